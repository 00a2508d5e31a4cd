"""``job_changed``: sent by whatever moves a job (a claim, the runner, a cancel, the
housekeeping sweeps) once the change is written. Delivery receives it and records the
event, streams it and posts webhooks; the senders know nothing of that, so the layers
below delivery never import it."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from generation_app.models import Job, JobEvent

# Sent with ``job_id``, ``event_type`` (a JobEvent.Type) and ``job``: the row as written, or
# None (then read it).
job_changed = Signal()

FINAL_EVENTS = {
    Job.Status.COMPLETED: JobEvent.Type.COMPLETED,
    Job.Status.FAILED: JobEvent.Type.FAILED,
    Job.Status.CANCELLED: JobEvent.Type.CANCELLED,
}


def announce(job: Job | Any, event_type: str, current: bool = False) -> None:
    """Tell the receivers that the job (a Job or its id) changed. ``current``: the Job
    given is the row as just written, so receivers need not read it again (``job``).
    Never raises: a receiver that fails must not fail a generation (``send_robust``)."""
    job_id = job.pk if isinstance(job, Job) else job
    row = job if current and isinstance(job, Job) else None
    job_changed.send_robust(sender=Job, job_id=job_id, event_type=event_type, job=row)


def announce_final(job: Job, current: bool = False) -> None:
    """The final event for the job's (final) status."""
    if job.status in FINAL_EVENTS:
        announce(job, FINAL_EVENTS[job.status], current=current)
