"""/interrogate never holds a web thread behind a backend's job: busy backends are not
asked, and captions are bounded per key and per web process. 36 concurrent captions from
one key used to make 20 of 20 other users' requests time out or wait 86-108 s."""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from PIL import Image

from generation_app.models import BackendLease, Job


def png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_every_backend_busy_is_a_429_at_once(api, backend):
    job = Job.objects.create(user_id="other", kind="txt2img", status="running", backend=backend)
    BackendLease.objects.create(backend=backend, job=job)
    started = time.perf_counter()
    response = api.post("/interrogate", {"image": png()}, format="json")
    assert response.status_code == 429, response.content
    assert response.json()["error"] == "backends_busy"
    assert time.perf_counter() - started < 2


def test_one_key_runs_at_most_its_captions_at_once(
    live_server, service_key, backend, sim, settings
):
    settings.HUB_MAX_CAPTIONS_PER_KEY = 1
    faults = {"hang_seconds": 2, "routes": ["/sdapi/v1/interrogate"], "count": 1}
    requests.post(f"{sim.url}/sim/faults", json=faults, timeout=5).raise_for_status()

    def caption(_):
        started = time.perf_counter()
        response = requests.post(
            f"{live_server.url}/interrogate", json={"image": png()},
            headers={"X-API-Key": service_key}, timeout=30,
        )  # fmt: skip
        return response.status_code, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(caption, 0)
        time.sleep(0.5)  # the first one is waiting on the slow backend
        second = pool.submit(caption, 1)
        (status_1, _), (status_2, waited) = first.result(), second.result()
    assert status_1 == 200
    assert status_2 == 429 and waited < 1.5
