"""Job events: the one place where a job's change of state becomes something pushed.

Every place that moves a job (the scheduler's claim, the runner's progress loop and
``finish``, a cancel, the housekeeping sweeps) sends the ``job_changed`` signal once the
change is written (``jobs.signals.announce``); :func:`on_job_changed` receives it. It records a :class:`JobEvent` row (what ``GET /users/{id}/events`` streams)
and, when the job has a webhook, queues its delivery on the housekeeping queue. It never
raises: a push that fails must not fail a generation.

An event's body is the Standard Webhooks shape ``{type, timestamp, data}``; ``data`` is
the job as ``GET /jobs/{id}`` shows it, with absolute links, plus ``result`` (image URLs
and seeds) once it is completed or cancelled.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone

from generation_app.delivery import webhooks
from generation_app.delivery.documents import job_body, result_body
from generation_app.jobs import signals
from generation_app.models import Job, JobEvent

logger = logging.getLogger(__name__)

STARTED = JobEvent.Type.STARTED
PROGRESS = JobEvent.Type.PROGRESS
COMPLETED = JobEvent.Type.COMPLETED
FAILED = JobEvent.Type.FAILED
CANCELLED = JobEvent.Type.CANCELLED
FINAL = signals.FINAL_EVENTS

# When each running job last had a progress event, in this process (the runner that
# follows a job is the only one emitting its progress).
_last_progress: dict[str, float] = {}
_lock = threading.Lock()


def job_changed(job: Job | Any, event_type: str, row: Job | None = None) -> JobEvent | None:
    """Record ``event_type`` for the job (a Job or its id) as it now is, and push it.
    ``row``: the job as just written by the sender (else it is read)."""
    job_id = job.pk if isinstance(job, Job) else job
    try:
        if event_type != PROGRESS:
            with _lock:
                _last_progress.pop(str(job_id), None)
        return _record(job_id, event_type, row)
    except Exception:
        logger.exception("Could not record the %s event of job %s", event_type, job_id)
        return None


@receiver(signals.job_changed, dispatch_uid="generation_app.delivery.events")
def on_job_changed(sender, job_id, event_type: str, job: Job | None = None, **kwargs) -> None:
    if event_type == PROGRESS:
        job_progressed(job_id, job)
    else:
        job_changed(job_id, event_type, job)


def job_finished(job: Job) -> JobEvent | None:
    """The final event for the job's (final) status."""
    return job_changed(job, FINAL[job.status]) if job.status in FINAL else None


def job_progressed(job_id, row: Job | None = None) -> JobEvent | None:
    """A progress event, at most one per HUB_WEBHOOK_PROGRESS_SECONDS per job."""
    key, now = str(job_id), time.monotonic()
    with _lock:
        last = _last_progress.get(key)
        if last is not None and now - last < settings.HUB_WEBHOOK_PROGRESS_SECONDS:
            return None
        if len(_last_progress) > 10_000:
            _last_progress.clear()
        _last_progress[key] = now
    try:
        return _record(job_id, PROGRESS, row)
    except Exception:
        logger.exception("Could not record a progress event of job %s", job_id)
        return None


def _record(job_id, event_type: str, job: Job | None = None) -> JobEvent:
    if job is None:
        job = Job.objects.defer("payload", "request").get(pk=job_id)  # backend: backend_url
    data = job_body(job)
    if event_type in (COMPLETED, CANCELLED):
        result = result_body(job, None, as_urls=True)
        data["result"] = {k: result[k] for k in ("images", "seeds", "grid_url") if k in result}
        data["result"]["safety"] = [item["safety"] for item in result["items"]]
    base = settings.HUB_PUBLIC_URL or job.base_url
    for key in ("links", "preview_url", "result"):
        if key in data:
            data[key] = _absolute(data[key], base)
    payload = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    event = JobEvent.objects.create(
        user_id=job.user_id, job_id=job.pk, type=event_type, payload=payload
    )
    if job.webhook_url:
        webhooks.queue_delivery(event, job.webhook_url)
    return event


def _absolute(value: Any, base: str) -> Any:
    """Links made without a request are paths; a pushed event carries them whole."""
    if isinstance(value, dict):
        return {k: _absolute(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    if base and isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return base.rstrip("/") + value
    return value
