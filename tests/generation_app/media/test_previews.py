"""Live previews for clients — preview_url on GET /jobs/{id} while running, a
`preview` SSE event when it changes, off with `live_preview: false`, bounded in rate and
size. Against a1111sim's live previews (its README: `live_preview`, `id_live_preview`,
`current_image`). Timings are never asserted: each wait is bounded by the job itself."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
import requests
from django.core.files.storage import default_storage
from PIL import Image

from backends.models import Backend
from generation_app.media import previews, storage
from generation_app.models import Job

BODY = {"user_id": "u1", "prompt": "a lighthouse", "steps": 60, "width": 256, "height": 256}


@pytest.fixture
def slow_sim(sim, settings):
    """Sampling slow enough for a few progress polls, previews every 10 steps (A1111's
    default show_progress_every_n_steps), polled as often as the tests like."""
    settings.HUB_PROGRESS_INTERVAL = 0.03
    settings.HUB_PREVIEW_INTERVAL = 0.0
    requests.post(f"{sim.url}/sim/faults", json={"step_ms": 40}, timeout=5).raise_for_status()
    return sim


def watch(api, cluster, body: dict) -> tuple[str, list[dict], list[tuple[int, str, bytes]]]:
    """Submit, run the queue in a thread, and poll GET /jobs/{id} (and each new preview)
    until the job ends."""
    job_id = api.post("/generate/txt2img", body, format="json").json()["job_id"]
    worker = cluster.drain_in_thread()
    seen, fetched = [], []
    while worker.is_alive():
        status = api.get(f"/jobs/{job_id}").json()
        assert "preview_url" in status, status
        seen.append(status)
        url = status["preview_url"]
        if url and (not fetched or fetched[-1][1] != url):
            response = api.get(url)
            content = b"".join(response.streaming_content) if response.status_code == 200 else b""
            fetched.append((response.status_code, url, content))
        time.sleep(0.03)  # well within the per-key rate limit
    worker.join()
    return job_id, seen, fetched


def test_a_running_job_offers_a_small_preview_that_is_replaced_as_it_changes(
    api, backend, cluster, slow_sim, settings
):
    job_id, seen, fetched = watch(api, cluster, BODY)
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert job.info["live_previews"] >= 2  # replaced as A1111's preview changed
    urls = [s["preview_url"] for s in seen if s["preview_url"]]
    assert urls and all(s["status"] == "running" for s in seen if s["preview_url"])
    assert all(u.startswith(f"http://testserver/jobs/{job_id}/preview?v=") for u in urls)
    served = [content for code, _, content in fetched if code == 200]
    assert served, fetched
    for content in served:
        assert len(content) <= previews.PREVIEW_MAX_BYTES
        image = Image.open(io.BytesIO(content))
        assert image.format == "WEBP" and max(image.size) <= previews.PREVIEW_MAX_SIDE
    # One file, replaced; gone when the job ends, and the URL with it.
    assert previews.preview_version(job_id) is None
    assert not [n for n in default_storage.listdir(f"jobs/{job_id}")[1] if "preview" in n]
    final = api.get(f"/jobs/{job_id}").json()
    assert final["preview_url"] is None
    gone = api.get(f"/jobs/{job_id}/preview")
    assert gone.status_code == 404 and gone.json()["error"] == "preview_not_found"


def test_live_preview_false_asks_for_none_and_offers_none(api, backend, cluster, slow_sim):
    job_id, seen, _ = watch(api, cluster, {**BODY, "live_preview": False})
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert any(s["status"] == "running" for s in seen)
    assert all(s["preview_url"] is None for s in seen)
    assert "live_previews" not in job.info
    assert "live_preview" not in job.payload  # a hub field, never sent to A1111


def test_previews_are_fetched_at_most_once_per_interval(api, backend, cluster, slow_sim, settings):
    settings.HUB_PREVIEW_INTERVAL = 3600.0
    job_id, _, _ = watch(api, cluster, BODY)
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert job.info["live_previews"] <= 1


def test_the_event_stream_sends_a_preview_event_when_it_changes(api, backend, cluster, slow_sim):
    job_id = api.post("/generate/txt2img", {**BODY, "steps": 80}, format="json").json()["job_id"]
    worker = cluster.drain_in_thread()
    response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
    text = b"".join(response.streaming_content).decode()
    worker.join()
    # A block is "[id: N]\nevent: NAME\ndata: JSON": keep the event and data lines.
    blocks = [[line for line in block.split("\n") if not line.startswith("id:")]
              for block in text.split("\n\n")]  # fmt: skip
    events = [lines for lines in blocks if lines and lines[0].startswith("event:")]
    previews = [json.loads(lines[1].removeprefix("data: ")) for lines in events
                if lines[0] == "event: preview"]  # fmt: skip
    assert previews, text
    assert all(p["job_id"] == job_id and "/preview?v=" in p["preview_url"] for p in previews)
    assert len({p["preview_url"] for p in previews}) == len(previews)  # only when it changes
    assert events[-1][0] == "event: done"


@pytest.fixture(scope="module")
def nowebui_sim():
    """A1111 started with --nowebui: no /internal/progress, previews from /sdapi/v1/progress."""
    from a1111sim.server import SimConfig, start_in_thread

    server = start_in_thread(SimConfig(port=0, step_ms=40, swap_ms=0, nowebui=True))
    yield server
    server.shutdown()


def test_with_nowebui_previews_come_from_current_image(api, cluster, nowebui_sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.03
    settings.HUB_PREVIEW_INTERVAL = 0.0
    Backend.objects.create(name="nowebui", url=nowebui_sim.url)
    job_id, seen, fetched = watch(api, cluster, BODY)
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert job.info["live_previews"] >= 1
    assert any(code == 200 for code, _, _ in fetched), fetched


def test_a_preview_of_another_users_job_is_403(api, user_api, backend):
    job_id = api.post("/generate/txt2img", {**BODY, "user_id": "alice"}, format="json").json()[
        "job_id"
    ]
    assert user_api("bob").get(f"/jobs/{job_id}/preview").status_code == 403
    response = user_api("alice").get(f"/jobs/{job_id}/preview")
    assert response.status_code == 404 and response.json()["error"] == "preview_not_found"


# --- storing, without a server -------------------------------------------------------------
def _png_b64(size, noise: bool = False) -> str:
    image = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "red")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_big_preview_is_stored_small(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert previews.store_preview("j1", "data:image/png;base64," + _png_b64((1536, 1024), True))
    stored = storage.read_bytes(previews.preview_name("j1", previews.preview_version("j1")))
    assert len(stored) <= previews.PREVIEW_MAX_BYTES
    assert max(Image.open(io.BytesIO(stored)).size) <= previews.PREVIEW_MAX_SIDE
    before = previews.preview_version("j1")
    assert previews.store_preview("j1", _png_b64((64, 64)))  # raw base64 (current_image)
    assert previews.preview_version("j1") != before
    # One preview file, the newest: the older one was deleted after it was replaced.
    _, files = default_storage.listdir("jobs/j1")
    assert files == [f"preview-{previews.preview_version('j1')}.webp"]


def test_a_preview_still_being_written_is_never_served_half(api):
    """A storage may list a new file before all its bytes are there (FileSystemStorage
    creates it, then writes): a client got a 200 with half a WebP while the suite ran on
    loaded cores. The newest whole preview is served, or none."""
    job = Job.objects.create(user_id="u1", kind="txt2img", status=Job.Status.RUNNING)
    job_id = str(job.pk)
    assert previews.store_preview(job_id, _png_b64((64, 64)))
    whole_name = previews.preview_name(job_id, previews.preview_version(job_id))
    whole = storage.read_bytes(whole_name)
    newer = format(int(previews.preview_version(job_id), 16) + 1, "x")
    storage.put(previews.preview_name(job_id, newer), whole[: len(whole) // 2])  # mid-write
    response = api.get(f"/jobs/{job_id}/preview")
    assert response.status_code == 200
    assert b"".join(response) == whole
    storage.delete_stored(whole_name)  # only the half-written one is left
    response = api.get(f"/jobs/{job_id}/preview")
    assert response.status_code == 404 and response.json()["error"] == "preview_not_found"


@pytest.mark.parametrize("data", ["", "data:image/png;base64,!!!", "aGVsbG8=", "x" * (13 << 20)])
def test_a_preview_that_does_not_decode_or_is_too_big_is_not_stored(settings, tmp_path, data):
    settings.MEDIA_ROOT = tmp_path
    assert previews.store_preview("j2", data) is False
    assert previews.preview_version("j2") is None


def test_the_openapi_schema_documents_previews(api):
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/jobs/{job_id}/preview"]["get"]
    assert "image/webp" in operation["responses"]["200"]["content"]
    components = schema["components"]["schemas"]
    assert "preview_url" in components["Job"]["properties"]
    for name in (
        "Txt2ImgRequestRequest",
        "ControlNetGenerationRequest",
        "RegionalGenerationRequest",
    ):
        assert "live_preview" in components[name]["properties"]
