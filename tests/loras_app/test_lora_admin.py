"""The admin is the catalog's editor: its pages and actions must render and work."""

from __future__ import annotations

import json
import struct

import pytest

from loras_app.models import Lora, ScanRun
from loras_app.scan import runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tmp_path, settings):
    settings.LORA_DIR = str(tmp_path)
    raw = json.dumps(
        {"__metadata__": {"ss_tag_frequency": json.dumps({"a": {"anime": 3}})}}
    ).encode()
    for name in ("one", "two"):
        (tmp_path / f"{name}.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    (tmp_path / "one.png").write_bytes(b"\x89PNG fake")
    runs.scan()
    return Lora.objects.order_by("filename")


def test_the_list_shows_thumbnails_and_filters(admin_client, catalog):
    page = admin_client.get("/admin/loras_app/lora/?q=one&tag=anime&missing__exact=0")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/admin/loras_app/lora/{catalog[0].pk}/preview/" in html
    assert "one.safetensors" in html and "two.safetensors" not in html
    assert admin_client.get(f"/admin/loras_app/lora/{catalog[0].pk}/preview/").status_code == 200


def test_the_change_page_shows_raw_metadata_and_saves_edits(admin_client, catalog):
    lora = catalog[0]
    url = f"/admin/loras_app/lora/{lora.pk}/change/"
    assert "ss_tag_frequency" in admin_client.get(url).content.decode()
    data = {
        "name": "Renamed",
        "trigger_words": '["hello"]',
        "description": "d",
        "preferred_weight": "0.5",
        "enabled": "on",
        "lora_tags-TOTAL_FORMS": "0",
        "lora_tags-INITIAL_FORMS": "0",
        "lora_tags-MIN_NUM_FORMS": "0",
        "lora_tags-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    lora.refresh_from_db()
    assert (lora.name, lora.trigger_words, lora.preferred_weight) == ("Renamed", ["hello"], 0.5)
    assert {"name", "trigger_words", "preferred_weight"} <= set(lora.edited_fields)
    assert "renamed" in lora.search_text


def test_bulk_disable_and_enable(admin_client, catalog):
    ids = [str(lora.pk) for lora in catalog]
    admin_client.post("/admin/loras_app/lora/", {"action": "disable", "_selected_action": ids})
    assert not Lora.objects.filter(enabled=True).exists()
    admin_client.post("/admin/loras_app/lora/", {"action": "enable", "_selected_action": ids})
    assert not Lora.objects.filter(enabled=False).exists()


def test_scan_now_queues_a_scan(admin_client, catalog):
    response = admin_client.post(
        "/admin/loras_app/lora/",
        {"action": "scan_now", "_selected_action": [catalog[0].pk]},
        follow=True,
    )
    assert "queued" in response.content.decode()
    run = ScanRun.objects.get(status=ScanRun.Status.QUEUED)
    assert admin_client.get(f"/admin/loras_app/scanrun/{run.pk}/change/").status_code == 200
    assert admin_client.get("/admin/loras_app/scanrun/").status_code == 200
