"""Cancelling a job: a queued one never starts, a running one is interrupted on its backend."""

from __future__ import annotations

from django.utils import timezone

from backends.registry import interrupt
from core import wake
from core.errors import Conflict
from generation_app.jobs.signals import announce
from generation_app.models import BackendLease, Job, JobEvent

# A runner reads its job's cancel_requested when this signal changes (core.wake), not on
# every progress poll.
CANCEL_SIGNAL = "cancel"


def cancel_job(job: Job) -> Job:
    """A queued job never starts; a running one is interrupted on its backend."""
    if job.is_final:
        raise Conflict(
            f"Job {job.id} is already {job.status}; only queued or running jobs can be cancelled.",
            code="job_finished",
            status=job.status,
        )
    now = timezone.now()
    waiting = (Job.Status.QUEUED, Job.Status.PAUSED)
    cancelled = Job.objects.filter(pk=job.pk, status__in=waiting).update(
        status=Job.Status.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        message="Cancelled before it started.",
    )
    if cancelled:
        announce(job, JobEvent.Type.CANCELLED)
    else:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        wake.send(CANCEL_SIGNAL)  # the runner following the job looks at once
        interrupt_if_running(job)
    job.refresh_from_db()
    return job


def interrupt_if_running(job: Job) -> None:
    """Interrupt is global in A1111: only send it when this job holds the backend."""
    lease = BackendLease.objects.filter(job=job).select_related("backend").first()
    if lease is not None:
        interrupt(lease.backend)  # if it fails, the worker interrupts when it sees cancel_requested
