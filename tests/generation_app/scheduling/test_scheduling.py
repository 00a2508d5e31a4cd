"""The scheduler: fair share between users, key priority, checkpoint affinity, capability
routing, leases, and queue positions that tell the truth. Orders and counts only: no
timings, so the tests hold on a slow machine.

End-to-end tests go API -> django-q2 (in-process cluster, the real pusher/worker/monitor)
-> dispatcher -> a1111sim over HTTP, with several simulators where routing is the point.
"""

from __future__ import annotations

import time
from datetime import timedelta

import requests
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from schedhelpers import ANIME, REALISTIC, SMALL, load, started_order, submit

from a1111sim.server import SimConfig, start_in_thread
from backends.models import Backend
from backends.registry import probe, record_probe
from core.models import ApiKey
from generation_app.models import BackendLease, Job
from generation_app.scheduling import eta


# --- through the real queue and simulators ---------------------------------------------
def test_with_one_backend_jobs_start_in_the_documented_order(api, backend, cluster):
    ids = {}
    for name in ["a1", "a2", "a3", "b1", "b2", "c1"]:
        ids[name] = submit(api, f"user-{name[0]}")
    cluster.drain()
    by_id = {v: k for k, v in ids.items()}
    assert [by_id[i] for i in started_order(list(ids.values()))] == [
        "a1",
        "b1",
        "c1",
        "a2",
        "b2",
        "a3",
    ]


def test_queue_positions_are_the_place_under_the_rule(api, backend):
    ids = [submit(api, "heavy") for _ in range(3)] + [submit(api, "light")]
    positions = [api.get(f"/jobs/{i}").json()["queue_position"] for i in ids]
    assert positions == [1, 3, 4, 2]


def test_while_one_poll_recomputes_the_queue_others_use_the_last_snapshot(api, backend):
    """Many clients polling at once must not all recompute the forecast when it expires."""
    ids = [submit(api, "heavy") for _ in range(2)] + [submit(api, "light")]
    job = Job.objects.get(pk=ids[1])
    assert eta.queue_state(job).position == 3
    time.sleep(eta.SNAPSHOT_SECONDS + 0.1)  # the snapshot is old now
    cache.add(eta.SNAPSHOT_REFRESH_KEY, True, 5)  # another poll is refreshing it
    with CaptureQueriesContext(connection) as reads:
        assert eta.queue_state(job).position == 3
    assert len(reads) == 0
    cache.delete(eta.SNAPSHOT_REFRESH_KEY)  # no one is: this poll recomputes
    with CaptureQueriesContext(connection) as reads:
        assert eta.queue_state(job).position == 3
    assert len(reads) > 0


def test_step_times_are_learned_again_only_when_the_last_lesson_is_old(db, backend):
    """A new job's answer needs the step times: they are read at most every RATES_SECONDS."""
    assert eta.StepRates.recent().overall is None  # nothing finished yet
    now = timezone.now()
    Job.objects.create(
        user_id="u", kind="txt2img", status="completed", backend=backend, total_steps=10,
        started_at=now - timedelta(seconds=5), finished_at=now,
    )  # fmt: skip
    with CaptureQueriesContext(connection) as reads:
        assert eta.StepRates.recent().overall is None  # the lesson kept
    assert len(reads) == 0
    cache.delete(eta.RATES_KEY)  # as when RATES_SECONDS have passed
    assert eta.StepRates.recent().overall == 0.5


def test_the_queue_view_counts_jobs_not_busy_backends(api, backend):
    for user in ("a", "b"):  # running, no backend recorded: counted all the same
        Job.objects.create(user_id=user, kind="txt2img", status="running")
    submit(api, "c")
    body = api.get("/queue").json()
    assert (body["queued"], body["running"]) == (1, 2)
    assert {u["user_id"]: (u["queued"], u["running"]) for u in body["users"]} == {
        "a": (0, 1),
        "b": (0, 1),
        "c": (1, 0),
    }


def test_a_priority_key_goes_first(api, backend, cluster):
    key, raw = ApiKey.generate("premium bot")
    ApiKey.objects.filter(pk=key.pk).update(priority=10)
    normal = [submit(api, "u1"), submit(api, "u2")]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    premium = submit(api, "u3")
    cluster.drain()
    assert started_order(normal + [premium])[0] == premium


def test_a_backend_runs_the_jobs_for_its_loaded_checkpoint_first(api, cluster, sims):
    sim = sims[0]
    load(sim, REALISTIC)
    row = Backend.objects.create(name="one", url=sim.url)
    record_probe(row, probe(row))  # what the health probe learns: the loaded model
    ids = [submit(api, f"u{i}", checkpoint=[ANIME, REALISTIC][i % 2]) for i in range(6)]
    cluster.drain()
    checkpoints = [Job.objects.get(pk=i).checkpoint for i in started_order(ids)]
    assert checkpoints == [REALISTIC] * 3 + [ANIME] * 3  # one swap, not five
    history = requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
    models = [h["checkpoint"] for h in history if h["route"] == "/sdapi/v1/txt2img"]
    assert sum(1 for a, b in zip(models, models[1:], strict=False) if a != b) == 1


def test_a_job_only_one_backend_can_run_does_not_hold_up_the_others(api, cluster, sims, sim):
    plain = start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0, controlnet=False))
    try:
        Backend.objects.create(name="plain", url=plain.url)
        with_cn = Backend.objects.create(name="cn", url=sim.url)
        api.get("/models?refresh=true")  # records each backend's extensions
        BackendLease.objects.create(
            backend=with_cn,
            job=Job.objects.create(user_id="someone", kind="txt2img", status="running"),
        )  # the only ControlNet backend is busy
        unit = {"module": "canny", "model": "control_v11p_sd15_canny", "image": png()}
        cn_job = api.post(
            "/generate/controlnet",
            {"user_id": "u", "prompt": "x", **SMALL, "controlnet_units": [unit]},
            format="json",
        ).json()["job_id"]
        plain_jobs = [submit(api, "v"), submit(api, "w")]
        cluster.drain()
        assert {Job.objects.get(pk=i).status for i in plain_jobs} == {"completed"}
        assert Job.objects.get(pk=cn_job).status == "queued"  # waits for its backend
    finally:
        plain.shutdown()


def test_a_lease_of_a_dead_worker_is_broken_and_its_backend_used_again(
    api, backend, cluster, settings
):
    stale = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS + 5)
    dead = Job.objects.create(user_id="u", kind="txt2img", status="running", heartbeat_at=stale)
    BackendLease.objects.create(backend=backend, job=dead)
    waiting = submit(api, "v")
    cluster.drain()
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped responding" in dead.message
    assert Job.objects.get(pk=waiting).status == "completed"
    assert not BackendLease.objects.exists()


def test_a_disabled_backend_takes_no_new_job(api, cluster, sims):
    on, off = sims
    Backend.objects.create(name="on", url=on.url)
    Backend.objects.create(name="off", url=off.url, enabled=False)
    ids = [submit(api, f"u{i}") for i in range(3)]
    cluster.drain()
    assert {Job.objects.get(pk=i).backend.name for i in ids} == {"on"}


def test_a_job_no_enabled_backend_can_run_fails_with_the_reason(api, backend, cluster):
    job_id = submit(api, "u", checkpoint=REALISTIC)
    Backend.objects.update(enabled=False)
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "No A1111 backend is configured or enabled" in job.message


def png() -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()
