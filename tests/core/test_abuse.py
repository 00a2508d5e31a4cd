"""Hostile and unlucky input: each finding of the hardening review, over real HTTP handling
(Django's test client through the full middleware, DRF and the hub's handlers). Every case
answers a JSON error with a stable code, never a 500 and never a worker tied up."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from core.models import ApiKey
from generation_app.models import Job

pytestmark = pytest.mark.django_db


def png_bytes(size=(64, 64), colour="white") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def client_for(**key_fields) -> APIClient:
    key, raw = ApiKey.generate(key_fields.pop("name", "k"), user_id=key_fields.pop("user", ""))
    if key_fields:
        ApiKey.objects.filter(pk=key.pk).update(**key_fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def error_of(response) -> str:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()["error"]


# --- uploads --------------------------------------------------------------------------
def test_a_file_under_a_name_the_operation_does_not_take_is_refused(api, backend):
    junk = {f"f{i}": SimpleUploadedFile(f"j{i}.bin", b"\0" * 1024) for i in range(100)}
    response = api.post(
        "/generate/img2img", {"user_id": "u", "prompt": "x", **junk}, format="multipart"
    )
    assert response.status_code == 400 and error_of(response) == "unexpected_file"
    assert "init_image" in response.json()["detail"]
    assert not Job.objects.exists()


def test_txt2img_takes_no_files_at_all(api, backend):
    response = api.post(
        "/generate/txt2img",
        {"user_id": "u", "prompt": "x", "image": SimpleUploadedFile("a.png", png_bytes())},
        format="multipart",
    )
    assert response.status_code == 415 and error_of(response) == "unsupported_media_type"
    assert "json=" in response.json()["detail"]


def test_files_over_the_per_request_total_are_stopped_while_streaming(api, backend, settings):
    settings.HUB_MAX_UPLOAD_TOTAL_BYTES = 300_000
    files = [SimpleUploadedFile(f"{i}.png", b"\0" * 200_000) for i in range(3)]
    response = api.post(
        "/generate/img2img", {"user_id": "u", "init_images": files}, format="multipart"
    )
    assert response.status_code == 413 and error_of(response) == "request_too_large"


def test_one_file_over_the_per_file_limit_is_413(api, backend, settings):
    settings.HUB_MAX_UPLOAD_BYTES = 100_000
    big = SimpleUploadedFile("big.png", b"\0" * 150_000)
    response = api.post(
        "/generate/img2img", {"user_id": "u", "init_image": big}, format="multipart"
    )
    assert response.status_code == 413 and error_of(response) == "image_too_large"


def test_more_files_than_the_limit_is_a_json_error(api, backend, settings):
    files = [SimpleUploadedFile(f"{i}.png", b"x") for i in range(settings.HUB_MAX_UPLOAD_FILES + 1)]
    response = api.post(
        "/generate/img2img", {"user_id": "u", "init_images": files}, format="multipart"
    )
    assert response.status_code == 413 and error_of(response) == "too_many_files"


def test_djangos_own_file_count_limit_answers_json_not_an_html_page(api, backend, settings):
    settings.HUB_MAX_UPLOAD_FILES = 1000
    files = [SimpleUploadedFile(f"{i}.png", b"x") for i in range(101)]
    response = api.post(
        "/generate/img2img", {"user_id": "u", "init_images": files}, format="multipart"
    )
    assert response.status_code == 400 and error_of(response) == "malformed_request"


# --- structured form fields -----------------------------------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        ("[" + ",".join(["0"] * 200_000) + "]", "items"),  # literal_eval would take seconds
        ("[" * 100_000, "items"),  # RecursionError before
        ("[" * 40 + "]" * 40, "nested"),
        ("[{1: 2, (1, 2): 3}]", "keys must be strings"),  # TypeError rendering it before
        ("[{'weight': float('nan')}]", "could not be read"),
        ('[{"weight": NaN}]', "could not be read"),
    ],
)
def test_hostile_structured_fields_are_400_with_the_field_named(api, backend, text, words):
    response = api.post(
        "/generate/controlnet",
        {"user_id": "u", "prompt": "x", "controlnet_units": text,
         "image": SimpleUploadedFile("a.png", png_bytes())},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 400, response.content[:300]
    assert error_of(response) == "malformed_request"
    assert "controlnet_units" in response.json()["detail"] and words in response.json()["detail"]


def test_a_structured_field_over_its_size_limit_is_refused(api, backend, settings):
    settings.HUB_MAX_STRUCTURED_FIELD_BYTES = 10_000
    text = json.dumps([{"model": "x" * 20_000}])
    response = api.post(
        "/generate/controlnet",
        {
            "user_id": "u",
            "controlnet_units": text,
            "image": SimpleUploadedFile("a.png", png_bytes()),
        },
        format="multipart",
    )
    assert response.status_code == 400 and "over the limit" in response.json()["detail"]


# --- numbers and characters the database cannot take -----------------------------------
def test_an_offset_past_a_64_bit_integer_is_400_or_an_empty_page(api, backend):
    huge = 2**63
    assert api.get(f"/presets?offset={huge}").status_code == 400
    jobs = api.get(f"/jobs?user_id=u&offset={huge}")
    assert jobs.status_code == 200 and jobs.json()["results"] == []


def test_a_nul_character_anywhere_in_a_json_body_is_400(api, backend):
    response = api.post(
        "/presets/u",
        {"name": "p", "regional_config": {"regions": ["a\u0000b", "c"], "layout": "2 columns"}},
        format="json",
    )
    assert response.status_code == 400 and error_of(response) == "malformed_request"
    assert "NUL" in response.json()["detail"]


def test_a_nul_character_in_a_form_field_is_400(api, backend):
    response = api.post(
        "/generate/img2img",
        {
            "user_id": "u",
            "prompt": "a\x00b",
            "init_image": SimpleUploadedFile("a.png", png_bytes()),
        },
        format="multipart",
    )
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


# --- limits that match a GPU -----------------------------------------------------------
def test_output_pixels_are_bounded(api, backend):
    body = {"user_id": "u", "prompt": "x", "width": 2048, "height": 2048}
    assert api.post("/generate/txt2img", {**body, "enable_hr": True, "hr_scale": 4}, format="json").status_code == 400  # fmt: skip
    assert api.post("/generate/txt2img", {**body, "batch_size": 16}, format="json").status_code == 400  # fmt: skip


def test_list_fields_are_bounded(api, backend):
    response = api.post(
        "/generate/txt2img",
        {"user_id": "u", "prompt": "x", "styles": ["s"] * 5_000},
        format="json",
    )
    assert response.status_code == 400 and "styles" in response.json()["fields"]
    response = api.post(
        "/generate/txt2img",
        {"user_id": "u", "prompt": "x", "styles": ["s"] * 100_000},
        format="json",
    )
    assert response.status_code == 400 and "HUB_MAX_JSON_ITEMS" in response.json()["detail"]


def test_a_mask_of_another_size_than_its_image_is_refused(api, backend):
    response = api.post(
        "/generate/img2img",
        {
            "user_id": "u",
            "init_images": [base64.b64encode(png_bytes((64, 64))).decode()],
            "mask": base64.b64encode(png_bytes((128, 64))).decode(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "128x64" in response.json()["detail"] and "64x64" in response.json()["detail"]


# --- keys: scopes and rates ------------------------------------------------------------
def test_a_user_key_may_search_the_catalog_but_not_scan_it(backend):
    alice = client_for(user="alice")
    assert alice.get("/loras").status_code == 200
    response = alice.post("/loras/scan", {"prune": True, "hashes": True}, format="json")
    assert response.status_code == 403 and error_of(response) == "forbidden"


def test_pruning_needs_the_admin_scope(backend):
    service = client_for(name="bot")
    assert service.post("/loras/scan", {"prune": True}, format="json").status_code == 403
    admin = client_for(name="ops", is_admin=True)
    assert admin.post("/loras/scan", {"prune": True}, format="json").status_code == 202


def test_a_key_over_its_rate_gets_429_with_retry_after(backend):
    slow = client_for(name="slow", rate_limit="3/min")
    codes = [slow.get("/loras").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = slow.get("/loras")
    assert error_of(response) == "too_many_requests" and int(response["Retry-After"]) > 0
    assert client_for(name="other").get("/loras").status_code == 200  # per key


def test_generation_requests_are_limited_per_user_whichever_key_sends_them(api, backend, settings):
    settings.HUB_GENERATION_RATE_LIMIT = "2/min"
    body = {"user_id": "spammer", "prompt": "x", "width": 64, "height": 64}
    codes = [api.post("/generate/txt2img", body, format="json").status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    other = {**body, "user_id": "someone-else"}
    assert api.post("/generate/txt2img", other, format="json").status_code == 202


# --- streams ---------------------------------------------------------------------------
def test_a_head_on_the_event_stream_never_holds_a_slot(api, backend, settings):
    job_id = api.post("/generate/txt2img", {"user_id": "u", "prompt": "x"}, format="json").json()[
        "job_id"
    ]
    for _ in range(settings.HUB_MAX_EVENT_STREAMS * 3):
        assert api.head(f"/jobs/{job_id}/events").status_code == 200
    from generation_app.delivery import streams

    assert streams.process_slots.held == 0  # all free


def test_event_streams_are_capped_per_key(api, backend, settings):
    from generation_app.delivery import streams

    job_id = api.post("/generate/txt2img", {"user_id": "u", "prompt": "x"}, format="json").json()[
        "job_id"
    ]
    key_id = ApiKey.objects.get(name="test service").pk
    held = [
        streams.key_slots.acquire(key_id) for _ in range(settings.HUB_MAX_EVENT_STREAMS_PER_KEY)
    ]
    try:
        response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
        assert response.status_code == 429
        assert json.loads(response.content)["error"] == "too_many_streams"
    finally:
        for release in held:
            release()


# --- idempotency -----------------------------------------------------------------------
def test_an_idempotency_key_replayed_with_another_body_is_422(api, backend):
    body = {"user_id": "u", "prompt": "a cat"}
    first = api.post("/generate/txt2img", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post("/generate/txt2img", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 202 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    other = api.post(
        "/generate/txt2img", {**body, "prompt": "a dog"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert other.status_code == 422 and error_of(other) == "idempotency_key_reused"
    assert other.json()["job_id"] == first.json()["job_id"]


def test_json_only_operations_refuse_a_form_body(api, backend):
    response = api.post("/generate/txt2img", {"user_id": "u", "prompt": "x"}, format="multipart")
    assert response.status_code == 415 and error_of(response) == "unsupported_media_type"
