"""Civitai enrichment against a stand-in Civitai: a local HTTP server on 127.0.0.1.

The stand-in answers ``GET /api/v1/model-versions/by-hash/{hash}`` the way Civitai documents
it; the shapes below follow:

- https://developer.civitai.com/site/reference/ (the by-hash endpoint is one of the model
  version endpoints) and https://developer.civitai.com/site/reference/model-versions — a
  model version: ``id``, ``modelId``, ``name`` (the version's), ``baseModel``,
  ``nsfwLevel``, ``trainedWords``, ``model {name, type, nsfw, poi}``, ``files[]`` with
  ``hashes {AutoV1, AutoV2, SHA256 (upper case), CRC32, BLAKE3}``, ``images[]``,
  ``downloadUrl``; 404 when no published version has the hash.
- https://github.com/civitai/civitai/wiki/REST-API-Reference — ``images[]`` entries
  ``{url, nsfw, width, height, hash, meta}`` (newer answers carry ``nsfwLevel`` and
  ``type``), and ``Authorization: Bearer {api_key}`` for keys.

No test reaches the internet and ``requests`` is never patched: the hub talks HTTP to it.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_q.models import Schedule
from PIL import Image

from loras_app import civitai, tasks
from loras_app.models import Lora, LoraCivitai, ScanRun
from loras_app.scan import runs, sources

Status = LoraCivitai.Status
BY_HASH = "/api/v1/model-versions/by-hash/"


class StandIn:
    """What the stand-in Civitai knows, what it should answer next, and what it was asked."""

    def __init__(self) -> None:
        self.versions: dict[str, dict] = {}  # sha256 (lower case) -> by-hash answer
        self.script: list[tuple[int, dict, bytes]] = []  # forced answers, first first
        self.requests: list[dict] = []
        self.url = ""

    def lookups(self) -> list[dict]:
        return [r for r in self.requests if r["path"].startswith(BY_HASH)]


def png(width: int = 600, height: int = 400) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


def make_handler(state: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None, ctype="json"):
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if ctype == "json" else "image/png")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            state.requests.append({"path": self.path, "headers": dict(self.headers)})
            if self.path.startswith("/images/"):
                return self._send(200, png(), ctype="png")
            if not self.path.startswith(BY_HASH):
                return self._send(404, b'{"error":"Not found"}')
            if state.script:
                status, headers, body = state.script.pop(0)
                return self._send(status, body, headers)
            found = state.versions.get(self.path[len(BY_HASH) :].lower())
            if found is None:  # what Civitai answers for a hash it does not know
                return self._send(404, b'{"error":"Model not found"}')
            return self._send(200, json.dumps(found).encode())

    return Handler


@pytest.fixture
def stand_in():
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def enrich_on(settings, stand_in):
    settings.CIVITAI_ENRICH = True
    settings.CIVITAI_BASE_URL = stand_in.url
    settings.CIVITAI_API_KEY = "civitai-test-key"
    settings.CIVITAI_RATE_PER_SECOND = 50.0
    return stand_in


def version(sha256: str, base_url: str, **overrides) -> dict:
    """A by-hash answer shaped like Civitai's (trimmed to a realistic subset)."""
    body = {
        "id": 2514310,
        "modelId": 827184,
        "name": "v2.0",
        "description": None,
        "baseModel": "SD 1.5",
        "baseModelType": "Standard",
        "air": "urn:air:sd1:lora:civitai:827184@2514310",
        "status": "Published",
        "availability": "Public",
        "nsfwLevel": 1,
        "createdAt": "2025-12-18T08:55:00.000Z",
        "updatedAt": "2025-12-18T09:16:12.062Z",
        "publishedAt": "2025-12-18T09:16:12.062Z",
        "trainedWords": ["zyxwatercolour", "soft wash"],
        "stats": {"downloadCount": 215627, "thumbsUpCount": 13828, "thumbsDownCount": 22},
        "model": {"name": "Aquarelle Dreams", "type": "LORA", "nsfw": False, "poi": False},
        "files": [
            {
                "id": 2402203,
                "name": "aquarelle_dreams_v2.safetensors",
                "type": "Model",
                "sizeKB": 147566.4,
                "metadata": {"format": "SafeTensor", "size": None, "fp": None},
                "pickleScanResult": "Success",
                "virusScanResult": "Success",
                "hashes": {
                    "AutoV1": "4748A7F6",
                    "AutoV2": sha256[:10].upper(),
                    "SHA256": sha256.upper(),
                    "CRC32": "DAEE95B7",
                    "BLAKE3": "1A411D9B" + "0" * 56,
                    "AutoV3": "22D8CB95B807",
                },
                "downloadUrl": "https://civitai.com/api/download/models/2514310",
                "primary": True,
            }
        ],
        "images": [
            {
                "url": f"{base_url}/images/nsfw.jpeg",
                "nsfwLevel": 8,
                "width": 832,
                "height": 1216,
                "hash": "U5H-_a~pE1WW00%LofR*kXD*t7t700D%bHof",
                "type": "image",
                "meta": None,
            },
            {
                "url": f"{base_url}/images/sfw.jpeg",
                "nsfwLevel": 1,
                "width": 600,
                "height": 400,
                "hash": "U9D+h~I;R+oeOUEMxa-V00~VNHE200IAkCoz",
                "type": "image",
                "meta": None,
            },
        ],
        "downloadUrl": "https://civitai.com/api/download/models/2514310",
    }
    body.update(overrides)
    return body


def write_lora(path: Path, payload: bytes) -> None:
    raw = json.dumps(
        {"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)


def catalog(root: Path, *names: str, settings=None) -> list[Lora]:
    """LoRA files with distinct content, scanned and hashed (nothing queued: the tests'
    transaction never commits)."""
    for n, name in enumerate(names):
        write_lora(root / f"{name}.safetensors", bytes([n + 1]) * 64)
    run = runs.scan(sources.Source(directory=str(root)), hashes=True)
    assert run.status == ScanRun.Status.SUCCEEDED, run.message
    return [Lora.objects.get(filename=f"{name}.safetensors") for name in names]


# --- found -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_found_lora_gets_its_fields_and_thumbnail(enrich_on, tmp_path, api):
    (lora,) = catalog(tmp_path, "aquarelle")
    enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url)

    summary = civitai.enrich()
    assert (summary.found, summary.not_found, summary.failed) == (1, 0, 0)
    (asked,) = enrich_on.lookups()
    # Only the hash leaves the hub (and the key, as a Bearer token).
    assert asked["path"] == BY_HASH + lora.sha256
    assert asked["headers"]["Authorization"] == "Bearer civitai-test-key"

    row = LoraCivitai.objects.get(lora=lora)
    assert row.status == Status.FOUND and row.sha256 == lora.sha256
    assert (row.model_name, row.version_name, row.model_type) == (
        "Aquarelle Dreams",
        "v2.0",
        "LORA",
    )
    assert (row.model_id, row.version_id, row.base_model) == (827184, 2514310, "SD 1.5")
    assert row.trained_words == ["zyxwatercolour", "soft wash"]
    assert row.nsfw is False
    assert row.preview_url == f"{enrich_on.url}/images/sfw.jpeg"  # the first SFW image
    assert row.page_url == "https://civitai.com/models/827184?modelVersionId=2514310"
    assert row.fetched_at and row.next_try_at is None
    # A small thumbnail, in the media storage.
    assert default_storage.exists(row.thumbnail)
    with default_storage.open(row.thumbnail) as f, Image.open(f) as image:
        assert image.format == "JPEG" and max(image.size) == civitai.THUMBNAIL_PIXELS

    # The API shows the file's values and, apart, Civitai's.
    body = api.get(f"/loras/{lora.filename}").json()
    assert body["trigger_words"] == [] and body["name"] == "aquarelle"
    block = body["civitai"]
    assert block["status"] == "found" and block["model_name"] == "Aquarelle Dreams"
    assert block["trained_words"] == ["zyxwatercolour", "soft wash"]
    assert block["page_url"] == "https://civitai.com/models/827184?modelVersionId=2514310"
    assert block["thumbnail_url"] == f"http://testserver/loras/{lora.filename}/civitai-thumbnail"
    thumb = api.get(block["thumbnail_url"])
    assert thumb.status_code == 200
    assert b"".join(thumb.streaming_content).startswith(b"\xff\xd8")  # JPEG

    # Cached: a found LoRA is not asked again ... unless refreshed.
    civitai.enrich()
    assert len(enrich_on.lookups()) == 1
    civitai.enrich(refresh=True)
    assert len(enrich_on.lookups()) == 2


@pytest.mark.django_db
def test_the_command_enriches_with_a_limit_and_refresh(enrich_on, tmp_path):
    loras = catalog(tmp_path, "one", "two")
    for lora in loras:
        enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url, images=[])
    out = io.StringIO()
    call_command("enrich_loras", "--limit", "1", stdout=out)
    assert "found 1, not found 0, failed 0; 1 left for later" in out.getvalue()
    call_command("enrich_loras", stdout=out)
    assert LoraCivitai.objects.filter(status=Status.FOUND).count() == 2
    assert len(enrich_on.lookups()) == 2
    call_command("enrich_loras", "--refresh", stdout=out)
    assert len(enrich_on.lookups()) == 4


# --- not found, rate limited, offline ----------------------------------------------------
@pytest.mark.django_db
def test_a_404_marks_not_found_and_is_retried_later_with_a_growing_delay(enrich_on, tmp_path):
    (lora,) = catalog(tmp_path, "homemade")
    civitai.enrich()
    row = LoraCivitai.objects.get(lora=lora)
    assert row.status == Status.NOT_FOUND and row.attempts == 1
    assert timedelta(hours=23) < row.next_try_at - timezone.now() <= timedelta(days=1)

    civitai.enrich()  # not due yet: nothing is sent
    assert len(enrich_on.lookups()) == 1

    LoraCivitai.objects.filter(pk=row.pk).update(next_try_at=timezone.now())  # a day later
    civitai.enrich()
    row.refresh_from_db()
    assert len(enrich_on.lookups()) == 2 and row.attempts == 2
    assert timedelta(days=1, hours=23) < row.next_try_at - timezone.now() <= timedelta(days=2)

    # The author uploads it: the next retry finds it.
    enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url)
    LoraCivitai.objects.filter(pk=row.pk).update(next_try_at=timezone.now())
    civitai.enrich()
    row.refresh_from_db()
    assert row.status == Status.FOUND and row.attempts == 0 and row.next_try_at is None


@pytest.mark.django_db
def test_a_429_with_retry_after_backs_off(enrich_on, tmp_path):
    first, second = catalog(tmp_path, "first", "second")
    for lora in (first, second):
        enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url, images=[])
    enrich_on.script.append((429, {"Retry-After": "120"}, b'{"error":"Too Many Requests"}'))

    summary = civitai.enrich()
    assert len(enrich_on.lookups()) == 1  # stopped at once: the second is not asked
    assert summary.paused_until and summary.left == 1
    row = LoraCivitai.objects.get(lora=first)
    assert row.status == Status.FAILED and "429" in row.last_error
    assert row.next_try_at - timezone.now() >= timedelta(seconds=110)
    assert not LoraCivitai.objects.filter(lora=second).exists()

    civitai.enrich()  # still within Retry-After: nothing at all is sent
    assert len(enrich_on.lookups()) == 1

    # Once the pause is over, the one never asked is asked; the 429'd one waits its turn.
    civitai.cache.delete(civitai.PAUSE_KEY)
    civitai.enrich()
    assert [r["path"] for r in enrich_on.lookups()][1:] == [BY_HASH + second.sha256]
    assert LoraCivitai.objects.get(lora=second).status == Status.FOUND


@pytest.mark.django_db
def test_a_short_retry_after_is_waited_out(enrich_on, tmp_path):
    (lora,) = catalog(tmp_path, "patient")
    enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url, images=[])
    enrich_on.script.append((429, {"Retry-After": "1"}, b"{}"))
    started = time.monotonic()
    summary = civitai.enrich()
    assert time.monotonic() - started >= 1.0
    assert summary.found == 1 and len(enrich_on.lookups()) == 2


def test_civitai_down_never_fails_a_scan_and_is_retried(
    housekeeping, settings, tmp_path, stand_in, unused_port
):
    settings.CIVITAI_ENRICH = True
    settings.CIVITAI_RATE_PER_SECOND = 50.0
    settings.CIVITAI_BASE_URL = f"http://127.0.0.1:{unused_port}"  # nothing listens: offline
    for n, name in enumerate(("a", "b", "c", "d")):
        write_lora(tmp_path / f"{name}.safetensors", bytes([n + 1]) * 64)

    run = runs.start_scan(sources.Source(directory=str(tmp_path)))
    assert housekeeping.drain() == 3  # the scan, its hashing, then the Civitai lookups
    run.refresh_from_db()
    assert run.status == ScanRun.Status.SUCCEEDED and run.added == 4
    failed = LoraCivitai.objects.filter(status=Status.FAILED)
    # Three failures in a row: Civitai is down, the run stops (no hammering).
    assert failed.count() == civitai.MAX_FAILURES_IN_A_ROW
    assert all(r.next_try_at > timezone.now() for r in failed)
    assert "Connection" in failed.first().last_error

    # The retry schedule exists while enrichment is on ...
    runs.ensure_schedule()
    schedule = Schedule.objects.get(name=civitai.SCHEDULE_NAME)
    assert schedule.func == "loras_app.tasks.enrich_loras"
    assert schedule.cluster == settings.HUB_HOUSEKEEPING_QUEUE
    # ... and when Civitai is back, its run (the schedule's function) fills the catalog in.
    settings.CIVITAI_BASE_URL = stand_in.url
    for lora in Lora.objects.all():
        stand_in.versions[lora.sha256] = version(lora.sha256, stand_in.url, images=[])
    LoraCivitai.objects.update(next_try_at=timezone.now() - timedelta(seconds=1))
    tasks.enrich_loras()
    assert LoraCivitai.objects.filter(status=Status.FOUND).count() == 4


# --- admin edits, search -----------------------------------------------------------------
@pytest.mark.django_db
def test_admin_edits_win_and_civitai_is_shown_beside_them(enrich_on, tmp_path, admin_client, api):
    (lora,) = catalog(tmp_path, "aquarelle")
    enrich_on.versions[lora.sha256] = version(lora.sha256, enrich_on.url)
    url = f"/admin/loras_app/lora/{lora.pk}/change/"
    response = admin_client.post(
        url,
        {
            "name": "House Watercolour",
            "trigger_words": "housewash",
            "description": "",
            "preferred_weight": "0.7",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    civitai.enrich(refresh=True)
    runs.scan(sources.Source(directory=str(tmp_path)))  # a later scan keeps the edits too
    lora.refresh_from_db()
    assert (lora.name, lora.trigger_words) == ("House Watercolour", ["housewash"])
    assert lora.base_model == ""  # Civitai's "SD 1.5" is not copied into the file's field

    body = api.get(f"/loras/{lora.filename}").json()
    assert (body["name"], body["trigger_words"]) == ("House Watercolour", ["housewash"])
    assert body["civitai"]["model_name"] == "Aquarelle Dreams"
    assert body["civitai"]["trained_words"] == ["zyxwatercolour", "soft wash"]
    assert body["civitai"]["base_model"] == "SD 1.5"

    page = admin_client.get(url).content.decode()
    assert "Aquarelle Dreams" in page and "zyxwatercolour" in page
    assert "https://civitai.com/models/827184?modelVersionId=2514310" in page
    thumb = admin_client.get(f"/admin/loras_app/lora/{lora.pk}/civitai-thumbnail/")
    assert thumb.status_code == 200


@pytest.mark.django_db
def test_search_and_autocomplete_find_a_lora_by_what_only_civitai_knows(enrich_on, tmp_path, api):
    target, _ = catalog(tmp_path, "lora_0042", "other_thing")
    assert api.get("/loras?search=zyxwatercolour").json()["count"] == 0
    enrich_on.versions[target.sha256] = version(target.sha256, enrich_on.url, images=[])
    civitai.enrich()

    found = api.get("/loras?search=zyxwatercolour").json()
    assert [r["filename"] for r in found["results"]] == ["lora_0042.safetensors"]
    typo = api.get("/loras?search=aquarele dreams").json()  # the model's name, misspelt
    assert typo["results"][0]["filename"] == "lora_0042.safetensors"
    choices = api.get("/loras/autocomplete?q=aquarelle").json()
    assert choices[0]["value"] == "lora_0042.safetensors"
    # A rescan (file unchanged) keeps Civitai's terms in the index.
    runs.scan(sources.Source(directory=str(tmp_path)))
    assert api.get("/loras?search=zyxwatercolour").json()["count"] == 1


@pytest.mark.django_db
def test_the_admin_action_looks_up_in_the_background(
    enrich_on, tmp_path, admin_client, django_capture_on_commit_callbacks
):
    (lora,) = catalog(tmp_path, "aquarelle")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            "/admin/loras_app/lora/",
            {"action": "look_up_on_civitai", "_selected_action": [lora.pk]},
            follow=True,
        )
    assert "Looking up 1 LoRA(s) on Civitai." in response.content.decode()
    assert len(callbacks) == 1  # one housekeeping task, queued; nothing asked in the request
    assert enrich_on.lookups() == []


# --- off ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_nothing_is_sent_when_civitai_enrich_is_off(
    settings, stand_in, tmp_path, admin_client, django_capture_on_commit_callbacks
):
    settings.CIVITAI_ENRICH = False
    settings.CIVITAI_BASE_URL = stand_in.url
    Schedule.objects.create(name=civitai.SCHEDULE_NAME, func="loras_app.tasks.enrich_loras")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (lora,) = catalog(tmp_path, "private")
    assert callbacks == []  # no enrichment queued after hashing
    assert civitai.enrich().disabled
    assert tasks.enrich_loras() == "Civitai enrichment is off (CIVITAI_ENRICH)."
    with pytest.raises(CommandError, match="CIVITAI_ENRICH"):
        call_command("enrich_loras")
    response = admin_client.post(
        "/admin/loras_app/lora/",
        {"action": "look_up_on_civitai", "_selected_action": [lora.pk]},
        follow=True,
    )
    assert "Civitai enrichment is off" in response.content.decode()
    runs.ensure_schedule()
    assert not Schedule.objects.filter(name=civitai.SCHEDULE_NAME).exists()
    assert stand_in.requests == []
    assert not LoraCivitai.objects.exists()
