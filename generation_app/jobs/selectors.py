"""Reads of jobs for the API: a user's history and the whole queue for operators and bots."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from backends.models import Backend
from generation_app.models import Job


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


TOP_USERS = 50  # the queue view lists this many users, busiest first


def queue_overview() -> dict:
    """The whole queue for an operator or a bot's /queue command."""
    now = timezone.now()
    active = Job.objects.filter(status__in=Job.ACTIVE)
    # One statement for both totals: read apart, a claim in between (queued -> running)
    # made a busy hub look idle for a moment.
    totals = active.aggregate(
        queued=Count("id", filter=Q(status=Job.Status.QUEUED)),
        running=Count("id", filter=Q(status=Job.Status.RUNNING)),
    )
    by_user = (
        active.values("user_id")
        .annotate(
            queued=Count("id", filter=Q(status=Job.Status.QUEUED)),
            running=Count("id", filter=Q(status=Job.Status.RUNNING)),
        )
        .order_by("-queued", "-running", "user_id")
    )
    by_checkpoint = (
        active.filter(status=Job.Status.QUEUED)
        .values("checkpoint")
        .annotate(queued=Count("id"))
        .order_by("-queued", "checkpoint")
    )
    oldest = (
        Job.objects.filter(status=Job.Status.QUEUED)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    running = {
        row["backend_id"]: row
        for row in Job.objects.filter(status=Job.Status.RUNNING).values(
            "id", "backend_id", "user_id", "kind", "checkpoint", "progress", "started_at"
        )
    }
    backends = []
    for backend in Backend.objects.order_by("id"):
        job = running.get(backend.pk)
        backends.append(
            {
                "url": backend.url,
                "name": backend.name or backend.url,
                "enabled": backend.enabled,
                "healthy": backend.healthy,
                "loaded_checkpoint": backend.loaded_checkpoint or None,
                "job": None
                if job is None
                else {
                    "job_id": str(job["id"]),
                    "user_id": job["user_id"],
                    "kind": job["kind"],
                    "checkpoint": job["checkpoint"] or None,
                    "progress": job["progress"],
                    "started_at": job["started_at"],
                },
            }
        )
    return {
        "queued": totals["queued"],
        "running": totals["running"],
        "oldest_wait_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "users": list(by_user[:TOP_USERS]),
        "checkpoints": [
            {"checkpoint": row["checkpoint"] or None, "queued": row["queued"]}
            for row in by_checkpoint
        ],
        "backends": backends,
    }
