"""The scheduler: fair share between users, key priority, checkpoint affinity, capability
routing, leases, and queue positions that tell the truth. Orders and counts only: no
timings, so the tests hold on a slow machine.

End-to-end tests go API -> django-q2 (in-process cluster, the real pusher/worker/monitor)
-> dispatcher -> a1111sim over HTTP, with several simulators where routing is the point.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from a1111sim.server import SimConfig, start_in_thread
from backends.models import Backend
from backends.registry import probe, record_probe
from core.models import ApiKey
from generation_app.models import BackendLease, Job, JobEvent
from generation_app.scheduling import claims, dispatcher, eta, rule, runner
from generation_app.scheduling.rule import Load, QueuedJob, forecast

ANIME = "animefull_final.safetensors [80b493026b]"
REALISTIC = "realisticVision_v51.safetensors [c4cbeec1db]"
SMALL = {"width": 64, "height": 64, "steps": 4}


@pytest.fixture
def sims():
    """Two more simulators of our own (their loaded checkpoint is part of the test)."""
    servers = [start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0)) for _ in range(2)]
    yield servers
    for server in servers:
        server.shutdown()


def load(sim, title: str) -> None:
    requests.post(f"{sim.url}/sdapi/v1/options", json={"sd_model_checkpoint": title}, timeout=30)


def submit(api, user: str, **extra) -> str:
    response = api.post("/generate/txt2img", {"user_id": user, "prompt": "x", **SMALL, **extra})
    assert response.status_code == 202, response.content
    return response.json()["job_id"]


def started_order(job_ids: list[str]) -> list[str]:
    jobs = Job.objects.filter(pk__in=job_ids).order_by("started_at")
    assert all(j.status == "completed" for j in jobs), [(j.status, j.message) for j in jobs]
    return [str(j.pk) for j in jobs]


def q(job_id, user, minute, checkpoint="", priority=0, kind="txt2img") -> QueuedJob:
    created = timezone.now() - timedelta(minutes=60 - minute)
    return QueuedJob(job_id, user, kind, checkpoint, priority, created)


# --- the rule as a pure function ----------------------------------------------------------
def fair_order(queued: list[QueuedJob], load: Load) -> list[QueuedJob]:
    """The rule's order on one backend, every job of the same length."""
    return [job for job, _ in forecast(queued, load, {1: 0.0}, [], lambda job, b: 1.0)]


def test_users_take_turns_least_recently_served_first():
    queued = [q("a1", "a", 1), q("a2", "a", 2), q("a3", "a", 3), q("b1", "b", 4), q("c1", "c", 5)]
    order = [j.id for j in fair_order(queued, Load())]
    assert order == ["a1", "b1", "c1", "a2", "a3"]


def test_a_user_with_jobs_running_waits_behind_users_with_none():
    queued = [q("a1", "a", 1), q("b1", "b", 2)]
    assert [j.id for j in fair_order(queued, Load(running=Counter({"a": 1})))] == ["b1", "a1"]


def test_a_user_served_a_moment_ago_waits_behind_one_served_earlier():
    queued = [q("a1", "a", 1), q("b1", "b", 2)]
    load = Load(last_served={"a": timezone.now(), "b": timezone.now() - timedelta(minutes=5)})
    assert [j.id for j in fair_order(queued, load)] == ["b1", "a1"]


def test_key_priority_comes_before_fair_share():
    queued = [q("a1", "a", 1), q("b1", "b", 2, priority=5), q("b2", "b", 3, priority=5)]
    assert [j.id for j in fair_order(queued, Load())] == ["b1", "b2", "a1"]


def test_a_backend_prefers_its_loaded_checkpoint_but_only_for_a_while(settings):
    backend = Backend(pk=1, url="http://b", loaded_checkpoint=REALISTIC)
    older, newer = q("old", "a", 50, checkpoint=ANIME), q("new", "a", 59, checkpoint=REALISTIC)
    titles = {1: {ANIME, REALISTIC}}
    now = timezone.now()
    settings.HUB_AFFINITY_MAX_WAIT_SECONDS = 3600
    assert rule.choose(backend, [older, newer], Load(), titles, now).id == "new"
    settings.HUB_AFFINITY_MAX_WAIT_SECONDS = 60  # "old" has waited 10 minutes: its turn
    assert rule.choose(backend, [older, newer], Load(), titles, now).id == "old"


def test_a_backend_never_gets_a_job_it_cannot_run():
    plain = Backend(pk=1, url="http://b", capabilities={})
    job = q("cn", "a", 1, kind="controlnet")
    assert rule.choose(plain, [job], Load(), {1: None}, timezone.now()) is None
    missing_model = q("m", "a", 1, checkpoint="other.safetensors [0]")
    assert rule.choose(plain, [missing_model], Load(), {1: {ANIME}}, timezone.now()) is None


def test_a_users_next_job_waits_behind_others_while_their_first_runs():
    """Backend 3 is free now, 1 and 2 when a's and b's running jobs end (in 5 s). c's
    first job starts now, so c's second waits behind a's and b's next ones."""
    queued = [q("c1", "c", 1), q("a2", "a", 2), q("b2", "b", 3), q("c2", "c", 4)]
    earlier = timezone.now() - timedelta(minutes=1)
    load = Load(running=Counter({"a": 1, "b": 1}), last_served={"a": earlier, "b": earlier})
    plan = forecast(
        queued, load, {1: 5.0, 2: 5.0, 3: 0.0}, [(5.0, "a"), (5.0, "b")], lambda job, b: 10.0
    )
    assert [(job.id, ends) for job, ends in plan] == [
        ("c1", 10.0),
        ("a2", 15.0),
        ("b2", 15.0),
        ("c2", 20.0),
    ]


def test_a_job_of_unknown_length_gets_a_place_but_no_eta():
    plan = forecast([q("a1", "a", 1), q("b1", "b", 2)], Load(), {1: 0.0}, [], lambda j, b: None)
    assert [(job.id, ends) for job, ends in plan] == [("a1", None), ("b1", None)]


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


def test_a_burst_of_jobs_costs_one_dispatch_task(api, backend, cluster):
    ids = [submit(api, f"u{i}") for i in range(3)]
    assert cluster.broker.queue_size() == 1  # one waiting dispatcher claims them all
    cluster.drain()
    assert {Job.objects.get(pk=i).status for i in ids} == {"completed"}


def test_a_job_sent_while_a_dispatcher_runs_starts_on_a_free_backend(api, cluster):
    """The running dispatcher holds the only queue worker; the new job's own task waits
    behind it, so the dispatcher itself must find the job (it polls)."""
    slow = [start_in_thread(SimConfig(port=0, step_ms=50, swap_ms=0)) for _ in range(2)]
    try:
        for server in slow:
            Backend.objects.create(url=server.url)
        first = submit(api, "u1", steps=60)  # 3 s
        worker = cluster.drain_in_thread()
        deadline = timezone.now() + timedelta(seconds=30)
        while Job.objects.get(pk=first).status != "running":
            assert timezone.now() < deadline, "the first job never started"
            time.sleep(0.02)
        second = submit(api, "u2", steps=1)
        worker.join(timeout=60)
        a, b = Job.objects.get(pk=first), Job.objects.get(pk=second)
        assert a.status == b.status == "completed"
        assert b.started_at < a.finished_at  # it did not wait for the first to end
    finally:
        for server in slow:
            server.shutdown()


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


def test_two_dispatchers_never_take_the_same_job_or_backend(transactional_db, sims):
    for sim in sims:
        Backend.objects.create(url=sim.url)
    for i in range(6):
        Job.objects.create(user_id=f"u{i}", kind="txt2img", payload={"prompt": "x"})
    taken, lock = [], threading.Lock()

    def claim_all():
        try:
            while (claim := claims.claim_next()) is not None:
                with lock:
                    taken.append((claim.backend.pk, claim.job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(taken) == 2  # two backends, each leased once
    assert len({b for b, _ in taken}) == 2 and len({j for _, j in taken}) == 2
    assert Job.objects.filter(status="running").count() == 2


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


def test_a_backend_is_given_back_as_soon_as_a1111_answers(api, backend):
    """Storing the images is the hub's work: the backend's next job need not wait for it.
    When the runner says the backend is free, its lease is gone, the job not yet done."""
    job_id = submit(api, "u1", checkpoint=ANIME)
    (claim,) = claims.claim_batch()
    seen = {}

    def on_release():
        job = Job.objects.get(pk=job_id)
        seen.update(
            leased=BackendLease.objects.filter(backend=backend).exists(),
            status=job.status,
            images=job.images.count(),
            loaded=Backend.objects.get(pk=backend.pk).loaded_checkpoint,
        )

    runner.run_claim(claim, on_release=on_release)
    assert seen["leased"] is False and seen["status"] == "running" and seen["images"] == 0
    assert seen["loaded"] == ANIME  # known before the backend's next claim (affinity)
    assert Job.objects.get(pk=job_id).status == "completed"
    # the job's own events are all there, started first
    assert [e.type for e in JobEvent.objects.filter(job_id=job_id).order_by("pk")][0] == (
        "job.started"
    )


def test_a_dispatchers_job_threads_keep_their_connections_and_close_them_at_the_end(
    api, backend, cluster
):
    """Opening a PostgreSQL connection costs more than a short job's queries: a job thread
    reuses its own for the next job, and none is left open once the dispatcher ends."""
    opened = []

    def count(sender, connection, **kwargs):
        if threading.current_thread().name.startswith("job"):
            opened.append(connection)

    connection_created.connect(count)
    try:
        ids = [submit(api, f"u{i}") for i in range(6)]
        cluster.drain()
    finally:
        connection_created.disconnect(count)
    assert {Job.objects.get(pk=i).status for i in ids} == {"completed"}
    assert 0 < len(opened) < len(ids)  # one backend: two threads at most take turns
    assert all(wrapper.connection is None for wrapper in opened)


def test_a_dispatcher_ends_when_its_last_job_does_not_at_its_next_poll(
    api, backend, cluster, settings
):
    """Its queue worker is free for the next dispatch at once (a slow poll shows it)."""
    settings.HUB_DISPATCH_POLL = 30
    job_id = submit(api, "u1")
    begun = time.monotonic()
    assert dispatcher.dispatch() == 1
    assert time.monotonic() - begun < 15  # a 4-step job; a missed wake-up waits 30 s
    assert Job.objects.get(pk=job_id).status == "completed"
