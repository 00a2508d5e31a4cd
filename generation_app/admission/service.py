"""Jobs: turning a validated request into a queued job, its queue position, cancel."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import ApiError, TooManyRequests
from generation_app.delivery import events
from generation_app.jobs.build import JobRequest, build_job
from generation_app.models import Job, JobGroup
from generation_app.scheduling import dispatcher
from presets_app.services import record_preset_use

logger = logging.getLogger(__name__)


# --- creating, finding, cancelling ------------------------------------------------------
def create_job(job_request: JobRequest) -> tuple[Job, bool]:
    """Validate against the catalog, build the payload, save the job and enqueue it.

    Returns ``(job, created)``; a repeated ``Idempotency-Key`` gives the first job back.
    """
    key = job_request.idempotency_key
    if key:
        existing = Job.objects.filter(user_id=job_request.user_id, idempotency_key=key).first()
        if existing:
            return _replay(existing, job_request), False
    _check_active_limit(job_request.user_id)  # early, before any work; again at insert
    job = build_job(job_request)
    try:
        with transaction.atomic():
            _lock_user(job_request.user_id)
            _check_active_limit(job_request.user_id)
            job.save(force_insert=True)
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        if key:  # a concurrent retry with the same key won the race
            first = Job.objects.get(user_id=job_request.user_id, idempotency_key=key)
            return _replay(first, job_request), False
        raise
    if job_request.preset_id is not None:
        record_preset_use(job_request.preset_id)
    return job, True


def create_group_jobs(group: JobGroup, jobs: list[Job]) -> None:
    """Save a group and its jobs together, with one dispatcher for all of them. A group
    counts as one request: its jobs are left out of the per-user active-job limit, and a
    user may have HUB_MAX_ACTIVE_GROUPS_PER_USER groups running at once."""
    with transaction.atomic():
        _lock_user(group.user_id)
        active = (
            JobGroup.objects.filter(user_id=group.user_id, jobs__status__in=Job.ACTIVE)
            .distinct()
            .count()
        )
        if active >= settings.HUB_MAX_ACTIVE_GROUPS_PER_USER:
            raise TooManyRequests(
                f"User {group.user_id!r} already has {active} sweep(s) running (the limit is "
                f"{settings.HUB_MAX_ACTIVE_GROUPS_PER_USER}). Wait for it, or cancel it.",
            )
        group.save(force_insert=True)
        for job in jobs:
            job.group = group
        Job.objects.bulk_create(jobs)
        transaction.on_commit(lambda: enqueue(jobs[0]))


def _replay(first: Job, job_request: JobRequest) -> Job:
    """The first job for a retried Idempotency-Key, if the body is the same (Stripe's rule:
    a key reused for another request is a client bug, not a retry)."""
    same = not first.request_fingerprint or first.request_fingerprint == job_request.fingerprint
    if not same or first.kind != job_request.kind:
        raise ApiError(
            f"Idempotency-Key {job_request.idempotency_key!r} was used for another request "
            f"(job {first.pk}). Use a new key for a new request; send the same body to retry.",
            code="idempotency_key_reused",
            status_code=422,
            job_id=str(first.pk),
        )
    return first


def _check_active_limit(user_id: str) -> None:
    active = Job.objects.filter(user_id=user_id, status__in=Job.ACTIVE, group__isnull=True).count()
    if active >= settings.HUB_MAX_ACTIVE_JOBS_PER_USER:
        raise TooManyRequests(
            f"User {user_id!r} already has {active} queued or running jobs (the limit is "
            f"{settings.HUB_MAX_ACTIVE_JOBS_PER_USER}). Wait for one to finish or cancel one.",
        )


def _lock_user(user_id: str) -> None:
    """Serialise one user's job inserts, so concurrent requests cannot pass the limit
    together. SQLite needs nothing: its IMMEDIATE transactions already take turns."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"jobs:{user_id}"])


def enqueue(job: Job) -> None:
    """Ask for a dispatcher. If the broker is down the job fails at once, saying so,
    rather than staying `queued` with nothing to run it."""
    if not dispatcher.enqueue_dispatch():
        failed = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message="The hub could not queue this job (the queue broker is unreachable). "
            "Check GET /health, then submit it again.",
        )
        if failed:
            events.job_changed(job, events.FAILED)
