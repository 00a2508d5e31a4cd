"""The catalog over HTTP: /loras, /loras/autocomplete, /loras/{filename}, /loras/scan."""

from __future__ import annotations

import json
import struct

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loras_app.models import Lora, ScanRun
from loras_app.scan import runs

pytestmark = pytest.mark.django_db


def write_lora(path, metadata):
    raw = json.dumps({"__metadata__": metadata}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


@pytest.fixture
def lora_dir(tmp_path, settings):
    settings.LORA_DIR = str(tmp_path)
    tags = json.dumps({"5_x": {"anime": 5, "1girl": 5}})
    write_lora(
        tmp_path / "character_lora.safetensors",
        {"ss_output_name": "character_lora", "ss_tag_frequency": tags},
    )
    write_lora(tmp_path / "anime_lineart.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"})
    write_lora(tmp_path / "style_lora.safetensors", {})
    (tmp_path / "character_lora.preview.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    runs.scan()
    return tmp_path


def test_the_briefs_search_example_works(api, lora_dir):
    response = api.get("/loras?search=anime&limit=10")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and (body["limit"], body["offset"]) == (10, 0)
    assert [r["filename"] for r in body["results"]] == [
        "anime_lineart.safetensors",
        "character_lora.safetensors",
    ]
    first = body["results"][0]
    assert first["base_model"] == "SDXL" and first["prompt_name"] == "anime_lineart"


def test_listing_pages_with_a_total_and_a_pinned_query_count(api, lora_dir):
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/loras?limit=2&offset=1").json()
    assert body["count"] == 3 and len(body["results"]) == 2
    assert len(queries) <= 6  # key (+ its last-used stamp), count, page ids, rows, tags


def test_bad_parameters_are_400_with_field_errors(api, db):
    body = api.get("/loras?limit=0&enabled=maybe").json()
    assert body["error"] == "invalid_request"
    assert set(body["fields"]) == {"limit", "enabled"}


def test_a_user_key_can_read_the_catalog_but_no_key_cannot(user_api, client, lora_dir):
    assert user_api("u1").get("/loras/autocomplete?q=char").status_code == 200
    assert client.get("/loras").status_code == 401


def test_autocomplete_gives_name_and_value_choices(api, lora_dir):
    choices = api.get("/loras/autocomplete?q=charcter").json()
    assert choices[0] == {"name": "character_lora", "value": "character_lora.safetensors"}


def test_one_lora_has_its_metadata_tags_and_preview(api, lora_dir, settings):
    body = api.get("/loras/character_lora.safetensors").json()
    assert body["metadata"]["ss_output_name"] == "character_lora"
    assert {"name": "anime", "frequency": 5} in body["tags"]
    assert body["preview_url"] == "http://testserver/loras/character_lora.safetensors/preview"
    image = api.get(body["preview_url"])
    assert image.status_code == 200 and b"".join(image.streaming_content).startswith(b"\x89PNG")
    # Absolute in the listing too, and under HUB_PUBLIC_URL behind a reverse proxy.
    settings.HUB_PUBLIC_URL = "https://hub.example.com"
    rows = api.get("/loras?search=character").json()["results"]
    assert rows[0]["preview_url"] == (
        "https://hub.example.com/loras/character_lora.safetensors/preview"
    )


def test_an_unknown_lora_is_404_with_suggestions(api, lora_dir):
    body = api.get("/loras/charcter_lora.safetensors").json()
    assert body["error"] == "lora_not_found"
    assert body["suggestions"][0] == "character_lora.safetensors"
    assert "Did you mean" in body["detail"]


def test_scan_answers_202_then_its_status_and_a_second_scan_is_409(api, lora_dir):
    response = api.post("/loras/scan", {}, format="json")
    assert response.status_code == 202
    scan_id = response.json()["scan_id"]
    assert response.json()["status"] == "queued"
    second = api.post("/loras/scan", {}, format="json")
    assert second.status_code == 409 and second.json()["scan_id"] == scan_id

    runs.run_queued_scan(scan_id)  # what the django-q2 worker does
    status = api.get(f"/loras/scans/{scan_id}").json()
    assert (status["status"], status["unchanged"], status["added"]) == ("succeeded", 3, 0)
    assert api.get("/loras/scans/999999").status_code == 404


def test_scan_from_a1111_reads_the_backends_listing(api, backend):
    response = api.post("/loras/scan", {"source": "a1111"}, format="json")
    assert response.status_code == 202 and response.json()["source"] == backend.url
    run = runs.run_queued_scan(response.json()["scan_id"])
    assert run.status == ScanRun.Status.SUCCEEDED and run.added >= 2
    assert Lora.objects.filter(filename="character_lora.safetensors").exists()


def test_models_counts_the_catalog(api, backend, lora_dir):
    Lora.objects.filter(filename="style_lora.safetensors").update(enabled=False)
    assert api.get("/models").json()["lora_count"] == 2


def test_the_endpoints_are_in_the_openapi_document(api, db):
    paths = json.loads(api.get("/openapi.json?format=json").content)["paths"]
    for path in (
        "/loras",
        "/loras/autocomplete",
        "/loras/scan",
        "/loras/scans/{scan_id}",
        "/loras/{filename}",
    ):
        assert path in paths
    assert "202" in paths["/loras/scan"]["post"]["responses"]


@pytest.mark.parametrize("query", ["enabled=", "include_missing=null", "offset=x", "limit=1.5"])
def test_a_blank_or_malformed_parameter_is_a_400_not_the_default(api, db, query):
    response = api.get(f"/loras?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["fields"]


def test_a_parameter_the_operation_does_not_take_is_a_400_listing_the_ones_it_does(api, db):
    body = api.get("/loras?serach=anime").json()
    assert body["error"] == "invalid_request"
    assert "search" in body["fields"]["serach"][0]
