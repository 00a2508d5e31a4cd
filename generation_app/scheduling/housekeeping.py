"""Housekeeping of the queue, every minute on its own cluster: stale leases, jobs no backend
can run, a dispatcher for what waits; and the schedules that run it."""

from __future__ import annotations

from backends.health import probe_all
from core.schedules import housekeeping_schedule
from generation_app.jobs.groups import release_shared_inputs
from generation_app.jobs.ordering import expire_paused
from generation_app.media.retention import ensure_prune_schedule
from generation_app.models import Job
from generation_app.scheduling import claims, dispatcher


def mend_queue() -> int:
    """Housekeeping, every minute on its own queue: fail the jobs of dead workers (freeing
    their backends), fail jobs no backend can run, and start a dispatcher for what is
    queued (its task may have died with a worker, or a backend came back)."""
    count = claims.break_stale_leases()
    probe_all()  # backend health comes from here, not from whoever polls /health
    claims.fail_jobs_no_backend_can_run()
    release_shared_inputs()  # sweeps whose last cell ended outside the runner (a lease broken)
    expire_paused()  # jobs paused longer than HUB_PAUSE_MAX_HOURS
    if Job.objects.filter(status=Job.Status.QUEUED).exists():
        dispatcher.enqueue_dispatch(force=True)
    return count


def ensure_schedules() -> None:
    """The periodic housekeeping of jobs (idempotent: runhub calls it at every start)."""
    ensure_prune_schedule()  # images: retention and quota (media.retention)
    housekeeping_schedule("sweep stale jobs", "generation_app.tasks.sweep", 1)
    housekeeping_schedule("webhooks and events", "generation_app.tasks.push_housekeeping", 1)
