"""The minute sweep: dead workers' jobs failed, lost dispatch tasks replaced, on the right queue."""

from __future__ import annotations

from jobhelpers import submit

from generation_app.models import BackendLease, Job


def test_the_sweep_fails_a_job_whose_worker_died_and_frees_its_backend(backend, db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from generation_app.scheduling.housekeeping import mend_queue

    stale = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        user_id="u", kind="txt2img", status="running", heartbeat_at=stale, backend=backend
    )
    fresh = Job.objects.create(
        user_id="u", kind="txt2img", status="running", heartbeat_at=timezone.now()
    )
    BackendLease.objects.create(backend=backend, job=job)
    assert mend_queue() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "Submit it again" in job.message
    assert Job.objects.get(pk=fresh.pk).status == "running"
    assert not BackendLease.objects.exists()


def test_the_sweep_starts_a_dispatcher_for_jobs_whose_task_was_lost(api, backend, cluster):
    from generation_app.scheduling.housekeeping import mend_queue

    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.broker.purge_queue()  # the task died with its worker (or Redis lost it)
    assert cluster.drain() == 0 and Job.objects.get(pk=job_id).status == "queued"
    mend_queue()
    assert cluster.drain() == 1
    assert Job.objects.get(pk=job_id).status == "completed"


def test_the_sweep_in_the_housekeeping_cluster_queues_the_dispatcher_for_generation(
    api, backend, cluster, settings, monkeypatch
):
    """django-q2 sends a task without a cluster to the process's own queue; the sweep runs
    in the housekeeping cluster (Q_CLUSTER_NAME), whose one worker must not run jobs."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    from generation_app.scheduling.housekeeping import mend_queue

    submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64})
    cluster.broker.purge_queue()
    housekeeping = get_broker(settings.HUB_HOUSEKEEPING_QUEUE)
    housekeeping.purge_queue()
    monkeypatch.setattr(Conf, "CLUSTER_NAME", settings.HUB_HOUSEKEEPING_QUEUE)  # as its env
    mend_queue()
    assert (cluster.broker.queue_size(), housekeeping.queue_size()) == (1, 0)
