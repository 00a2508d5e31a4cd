"""``job_changed``: sent by whatever moves a job (a claim, the runner, a cancel, the
housekeeping sweeps) once the change is written. Delivery receives it and records the
event, streams it and posts webhooks; the senders know nothing of that, so the layers
below delivery never import it."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from generation_app.models import Job, JobEvent

# Sent with ``job_id`` and ``event_type`` (a JobEvent.Type).
job_changed = Signal()

FINAL_EVENTS = {
    Job.Status.COMPLETED: JobEvent.Type.COMPLETED,
    Job.Status.FAILED: JobEvent.Type.FAILED,
    Job.Status.CANCELLED: JobEvent.Type.CANCELLED,
}


def announce(job: Job | Any, event_type: str) -> None:
    """Tell the receivers that the job (a Job or its id) changed. Never raises: a
    receiver that fails must not fail a generation (``send_robust``)."""
    job_id = job.pk if isinstance(job, Job) else job
    job_changed.send_robust(sender=Job, job_id=job_id, event_type=event_type)


def announce_final(job: Job) -> None:
    """The final event for the job's (final) status."""
    if job.status in FINAL_EVENTS:
        announce(job, FINAL_EVENTS[job.status])
