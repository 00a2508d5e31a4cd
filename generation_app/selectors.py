"""Reading jobs: queue position and ETA, a user's history. Cheap, for the hottest reads."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, F, QuerySet

from backends.models import Backend
from generation_app.models import Job


@dataclass(frozen=True)
class QueueState:
    position: int | None
    eta_seconds: float | None


def queue_state(job: Job) -> QueueState:
    position = queue_position(job)
    return QueueState(position, estimate_eta(job, position))


def queue_position(job: Job) -> int | None:
    """1 = next to start. Jobs queue in one FIFO across users, like A1111's own lock."""
    if job.status != Job.Status.QUEUED:
        return None
    return Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=job.created_at).count() + 1


def typical_duration() -> float | None:
    """Mean run time of the last 20 completed jobs, in seconds."""
    recent = (
        Job.objects.filter(status=Job.Status.COMPLETED, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("id", flat=True)[:20]
    )
    mean = (
        Job.objects.filter(id__in=list(recent))
        .annotate(duration=F("finished_at") - F("started_at"))
        .aggregate(mean=Avg("duration"))["mean"]
    )
    return mean.total_seconds() if mean else None


def estimate_eta(job: Job, position: int | None) -> float | None:
    if job.status == Job.Status.RUNNING:
        return job.eta_seconds
    if position is None:
        return None
    typical = typical_duration()
    if typical is None:
        return None
    backends = max(1, Backend.objects.filter(enabled=True).count())
    return round(typical * (position + backends - 1) / backends, 1)


def user_jobs(user_id: str | None, status: str | None = None, kind: str | None = None) -> QuerySet:
    """A history, newest first, with images for the thumbnails."""
    jobs = Job.objects.prefetch_related("images").order_by("-created_at")
    if user_id:
        jobs = jobs.filter(user_id=user_id)
    if status:
        jobs = jobs.filter(status=status)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs
