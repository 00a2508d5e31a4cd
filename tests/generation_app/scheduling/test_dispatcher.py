"""The dispatcher: one task per burst, claims as backends free, threads and connections, two dispatchers never taking one job."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.db import connection
from django.db.backends.signals import connection_created
from django.utils import timezone
from schedhelpers import ANIME, submit

from a1111sim.server import SimConfig, start_in_thread
from backends.models import Backend
from core import wake
from generation_app.models import BackendLease, Job, JobEvent
from generation_app.scheduling import claims, dispatcher, runner


def test_a_burst_of_jobs_costs_one_dispatch_task(api, backend, cluster):
    ids = [submit(api, f"u{i}") for i in range(3)]
    assert cluster.broker.queue_size() == 1  # one waiting dispatcher claims them all
    cluster.drain()
    assert {Job.objects.get(pk=i).status for i in ids} == {"completed"}


def test_a_job_sent_while_a_dispatcher_runs_starts_on_a_free_backend(api, cluster, settings):
    """The running dispatcher holds the duty, so the new job queues no task of its own: the
    dispatcher itself must find the job, woken by the job's signal (its periodic recheck is
    set far beyond the test)."""
    settings.HUB_DISPATCH_RECHECK = 600
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
        assert cluster.broker.queue_size() == 0  # a task would only have found nothing
        worker.join(timeout=60)
        a, b = Job.objects.get(pk=first), Job.objects.get(pk=second)
        assert a.status == b.status == "completed"
        # It did not wait for the first to end, nor for its backend to be given back.
        assert b.started_at < a.finished_at - timedelta(seconds=1)
    finally:
        for server in slow:
            server.shutdown()


def test_every_signal_of_new_work_changes_what_dispatchers_read(transactional_db):
    before = dispatcher.work_signals()
    dispatcher.signal_new_work()
    first = dispatcher.work_signals()
    dispatcher.signal_new_work()  # at once: the same clock tick must still count
    assert before != first != dispatcher.work_signals()


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


def test_a_dispatcher_holds_its_duty_while_it_runs_and_gives_it_up_when_it_ends(
    api, cluster, monkeypatch
):
    """Renewed while its job runs (far longer than a duty lasts); given up at the end, so
    the next job queues a task again."""
    monkeypatch.setattr(dispatcher, "DUTY_SECONDS", 0.3)
    monkeypatch.setattr(dispatcher, "DUTY_RENEW_SECONDS", 0.05)
    slow = start_in_thread(SimConfig(port=0, step_ms=50, swap_ms=0))
    try:
        Backend.objects.create(url=slow.url)
        first = submit(api, "u1", steps=30)  # 1.5 s
        worker = cluster.drain_in_thread()
        deadline = time.monotonic() + 30
        while Job.objects.get(pk=first).status != "running":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        time.sleep(0.6)  # two lifetimes of a duty
        assert wake.on_duty(dispatcher._duty())
        worker.join(timeout=60)
        assert Job.objects.get(pk=first).status == "completed"
        assert not wake.on_duty(dispatcher._duty())
        submit(api, "u2", steps=1)
        assert cluster.broker.queue_size() == 1
    finally:
        slow.shutdown()


def test_a_dispatcher_that_died_holds_its_duty_no_longer_than_it_lasts(api, backend, cluster):
    held = time.monotonic()
    wake.hold(dispatcher._duty(), 4.0)  # as a dispatcher killed before it gave it up
    submit(api, "u1")
    assert time.monotonic() - held < 4.0, "too slow to see the duty held"
    assert cluster.broker.queue_size() == 0  # it would have been woken
    time.sleep(max(0.0, 4.1 - (time.monotonic() - held)))
    job_id = submit(api, "u2")
    assert cluster.broker.queue_size() == 1
    cluster.drain()
    assert Job.objects.get(pk=job_id).status == "completed"
