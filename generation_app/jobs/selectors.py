"""TODO."""

from __future__ import annotations

from django.db.models import QuerySet

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
