"""The runner against a1111sim: progress, cancel, and every way a backend can fail a job."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from jobhelpers import sim_faults, sim_history, submit, wait_for
from PIL import Image

from backends.models import Backend
from generation_app.delivery import events
from generation_app.models import BackendLease, Job, JobEvent, JobImage


def test_cancel_while_queued_means_it_never_runs(api, backend, cluster, sim):
    job_id = submit(api, {"user_id": "u", "prompt": "never"}).json()["job_id"]
    response = api.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    cluster.drain()
    assert Job.objects.get(pk=job_id).status == "cancelled"
    assert not [h for h in sim_history(sim) if h.get("prompt") == "never"]
    again = api.delete(f"/jobs/{job_id}")
    assert again.status_code == 409 and again.json()["status"] == "cancelled"


def test_cancel_while_running_interrupts_the_backend(api, backend, cluster, sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.05
    # 150 steps of 200 ms: far longer than any stall, and the cancel ends it long before.
    # What is asserted is the order (running with some steps done, then cancelled), never
    # how long a step took.
    sim_faults(sim, step_ms=200)
    job_id = submit(
        api, {"user_id": "u", "prompt": "slow", "steps": 150, "width": 64, "height": 64}
    ).json()["job_id"]
    worker = cluster.drain_in_thread()
    wait_for(lambda: Job.objects.get(pk=job_id).step > 0)
    status = api.get(f"/jobs/{job_id}").json()
    assert status["status"] == "running" and 0 < status["step"] < 150
    api.post(f"/jobs/{job_id}/cancel")
    worker.join(timeout=30)
    job = Job.objects.get(pk=job_id)
    assert job.status == "cancelled" and "Cancelled while running" in job.message
    assert job.finished_at is not None
    assert not BackendLease.objects.exists()


def test_an_a1111_error_fails_the_job_with_its_message(api, backend, cluster, sim):
    sim_faults(
        sim,
        fail_rate=1.0,
        fail_status=500,
        fail_message="CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    status = api.get(f"/jobs/{job_id}").json()
    assert status["status"] == "failed"
    assert "CUDA out of memory" in status["message"] and "Lower the size" in status["message"]


def test_a_backend_that_hangs_fails_the_job_within_the_timeout(
    api, backend, cluster, sim, settings
):
    settings.A1111_GENERATION_TIMEOUT = 1.0
    sim_faults(sim, hang_seconds=3, count=1)
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "timed out" in job.message


def test_a_backend_that_drops_the_connection_fails_the_job(api, backend, cluster, sim):
    sim_faults(sim, drop_connection=True, count=1)
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "unreachable" in job.message.lower()


def test_a_backend_that_is_down_fails_the_job_saying_so(api, cluster, unused_port):
    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "Backend unreachable" in job.message
    assert Backend.objects.get().healthy is False


def test_progress_is_recorded_while_running(api, backend, cluster, sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.05
    # Slow steps until a partial progress has been seen, then full speed: the test waits
    # for events in order (running part-way, then completed) instead of sampling a fixed
    # window that a busy machine could sleep through.
    sim_faults(sim, step_ms=200)
    job_id = submit(
        api, {"user_id": "u", "prompt": "x", "steps": 40, "width": 64, "height": 64}
    ).json()["job_id"]
    worker = cluster.drain_in_thread()

    def part_way():
        status = api.get(f"/jobs/{job_id}").json()
        return status["status"] == "running" and 0 < status["progress"] < 1 and status

    status = wait_for(part_way, timeout=60)
    assert status["eta_seconds"] is not None and status["eta_seconds"] >= 0
    sim_faults(sim, step_ms=0)
    worker.join(timeout=60)
    assert api.get(f"/jobs/{job_id}").json()["status"] == "completed"


def test_stored_images_keep_their_infotext(api, backend, cluster, settings):
    job_id = submit(
        api, {"user_id": "u", "prompt": "a lighthouse", "width": 64, "height": 64}
    ).json()["job_id"]
    cluster.drain()
    image = JobImage.objects.get(job_id=job_id)
    with default_storage.open(image.file) as handle:
        stored = Image.open(io.BytesIO(handle.read()))
    assert "a lighthouse" in stored.info["parameters"]


def test_the_final_row_carries_a1111s_info_and_its_event_says_what_a_fresh_read_does(
    api, backend, cluster
):
    """The final state, A1111's info and the warnings are written in one UPDATE, and the
    completed event is rendered from the row as written (not read again): it must say what
    an event rendered from a fresh read of the job says."""
    job_id = submit(
        api, {"user_id": "u", "prompt": "two", "width": 64, "height": 64, "batch_size": 2}
    ).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed" and job.progress == 1.0, job.message
    assert len(job.info["all_seeds"]) == 2 and "requested_loras" in job.info
    written = JobEvent.objects.get(job_id=job_id, type=JobEvent.Type.COMPLETED).payload["data"]
    read = events._record(job_id, JobEvent.Type.COMPLETED).payload["data"]
    for key in ("status", "message", "progress", "step", "eta_seconds", "warnings"):
        assert written[key] == read[key], key
    assert written["finished_at"] == read["finished_at"] is not None
    assert written["result"]["seeds"] == read["result"]["seeds"] == job.info["all_seeds"]


def test_a_refused_connection_moves_the_job_to_another_backend(api, cluster, sim, unused_port):
    down = Backend.objects.create(name="down", url=f"http://127.0.0.1:{unused_port}")
    up = Backend.objects.create(name="sim", url=sim.url)
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert job.backend == up
    down.refresh_from_db()
    assert down.healthy is False and "refused" in down.last_error
