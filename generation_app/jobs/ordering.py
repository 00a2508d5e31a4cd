"""A user's control of their own queue: move a job among their queued jobs, pause and
resume them, cancel them all; and an operator's boost.

The fair-share rule between users is untouched: a user's queued jobs hold a set of places
(``queue_key``, at first when each was queued), and a move only changes which of *their*
jobs holds which place — so another user's job that was ahead stays ahead. A paused job is
``paused``: no backend takes it, it does not count against the active-job cap, and it
keeps its place; resumed, it is queued again where it was. Paused jobs are cancelled after
HUB_PAUSE_MAX_HOURS by the housekeeping sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApiError, Conflict
from generation_app.jobs.cancel import cancel_job
from generation_app.jobs.signals import announce
from generation_app.models import Job, JobEvent

logger = logging.getLogger(__name__)

MOVES = ("front", "back", "before")


def _queued(user_id: str):
    return Job.objects.filter(user_id=user_id, status=Job.Status.QUEUED, group__isnull=True)


def move(job: Job, where: str, before: Job | None = None) -> list[Job]:
    """Put ``job`` at the front or back of its user's queued jobs, or just before
    ``before`` (another of them). Returns the user's queued jobs in their new order."""
    if where not in MOVES:
        raise ApiError(f"where must be one of {', '.join(MOVES)}.", code="invalid_move")
    with transaction.atomic():
        mine = list(_queued(job.user_id).select_for_update().order_by("queue_key", "created_at"))
        if job.pk not in {j.pk for j in mine}:
            raise Conflict(
                f"Job {job.pk} is {job.status}: only your queued jobs can be moved.",
                code="job_not_queued",
            )
        places = [j.queue_key for j in mine]
        order = [j for j in mine if j.pk != job.pk]
        if where == "front":
            order.insert(0, job)
        elif where == "back":
            order.append(job)
        else:
            if before is None or before.pk not in {j.pk for j in order}:
                raise ApiError("before must be another of your queued jobs.", code="invalid_move")
            order.insert([j.pk for j in order].index(before.pk), job)
        for place, queued in zip(sorted(places), order, strict=True):
            if queued.queue_key != place:
                Job.objects.filter(pk=queued.pk).update(queue_key=place)
                queued.queue_key = place
    return order


def pause(user_id: str) -> int:
    """Pause the user's queued jobs (not a sweep's cells); returns how many."""
    return _queued(user_id).update(status=Job.Status.PAUSED, paused_at=timezone.now())


def resume(user_id: str) -> int:
    """Queue the user's paused jobs again, in their places (the caller asks for a
    dispatcher)."""
    return Job.objects.filter(user_id=user_id, status=Job.Status.PAUSED).update(
        status=Job.Status.QUEUED, paused_at=None
    )


def cancel_all(user_id: str) -> int:
    """Cancel every queued, paused or running job of the user."""
    jobs = Job.objects.filter(
        user_id=user_id, status__in=(*Job.ACTIVE, Job.Status.PAUSED)
    ).order_by("created_at")
    count = 0
    for job in jobs:
        try:
            cancel_job(job)
            count += 1
        except Conflict:  # it ended meanwhile
            pass
    return count


def boost(job: Job, priority: int, by: str) -> Job:
    """An operator's change of a queued job's priority (logged)."""
    if job.status not in (Job.Status.QUEUED, Job.Status.PAUSED):
        raise Conflict(f"Job {job.pk} is {job.status}: only a queued job can be boosted.",
                       code="job_not_queued")  # fmt: skip
    Job.objects.filter(pk=job.pk).update(priority=priority)
    logger.warning("Job %s priority %s -> %s by %s", job.pk, job.priority, priority, by)
    job.priority = priority
    return job


def expire_paused(now=None) -> int:
    """Cancel jobs paused longer than HUB_PAUSE_MAX_HOURS (the housekeeping sweep)."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.HUB_PAUSE_MAX_HOURS)
    expired = list(Job.objects.filter(status=Job.Status.PAUSED, paused_at__lt=cutoff))
    for job in expired:
        done = Job.objects.filter(pk=job.pk, status=Job.Status.PAUSED).update(
            status=Job.Status.CANCELLED,
            finished_at=timezone.now(),
            message=f"Cancelled: paused for more than HUB_PAUSE_MAX_HOURS "
            f"({settings.HUB_PAUSE_MAX_HOURS:g} h).",
        )
        if done:
            announce(job, JobEvent.Type.CANCELLED)
    return len(expired)
