"""Claims and leases: the rule applied to the database in one short transaction, and the
mending of what dead workers and vanished backends leave behind."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from backends.models import Backend
from generation_app.jobs.signals import announce
from generation_app.models import BackendLease, Job, JobEvent
from generation_app.scheduling.rule import (
    UNHEALTHY_RETRY_SECONDS,
    Claim,
    Load,
    QueuedJob,
    can_run,
    checkpoint_titles,
    choose,
    unrunnable_reason,
)

# The wake signal (core.wake) of running dispatchers: a new job, a backend given back.
DISPATCH_SIGNAL = "dispatch"
# How many of the oldest queued jobs one decision looks at (bounded work per claim).
CANDIDATE_LIMIT = 2000


def usable_backends(at: datetime | None = None):
    """Enabled backends that are healthy, or unhealthy long enough to be tried again."""
    retry_after = (at or timezone.now()) - timedelta(seconds=UNHEALTHY_RETRY_SECONDS)
    return Backend.objects.filter(enabled=True).filter(
        Q(healthy=True) | Q(last_checked_at__lt=retry_after) | Q(last_checked_at__isnull=True)
    )


def queued_jobs(limit: int = CANDIDATE_LIMIT) -> list[QueuedJob]:
    rows = (
        Job.objects.filter(status=Job.Status.QUEUED)
        .order_by("created_at")
        .values_list(
            "id",
            "user_id",
            "kind",
            "checkpoint",
            "priority",
            "created_at",
            "needs",
            "total_steps",
            "queue_key",
        )[:limit]
    )
    return [QueuedJob(*row[:6], tuple(row[6] or ()), row[7], row[8]) for row in rows]


def current_load(users: set[str], running_users: list[str] | None = None) -> Load:
    """Running jobs per user, and when each of ``users`` was last served (the last day).
    ``running_users``: the users of the running jobs, when the caller has read them."""
    if running_users is None:
        running_users = list(
            Job.objects.filter(status=Job.Status.RUNNING).values_list("user_id", flat=True)
        )
    running = Counter(running_users)
    since = timezone.now() - timedelta(days=1)
    last_served = dict(
        Job.objects.filter(user_id__in=users, started_at__gte=since)
        .values("user_id")
        .annotate(last=Max("started_at"))
        .values_list("user_id", "last")
    )
    return Load(running, last_served)


def claim_next() -> Claim | None:
    """Lease the best (free backend, queued job) pair and mark the job running, or None."""
    claims = claim_batch(limit=1)
    return claims[0] if claims else None


def claim_batch(limit: int | None = None) -> list[Claim]:
    """Fill every free backend (at most ``limit``) in one short transaction, each with its
    best job under the rule; the load is updated between picks, as if claimed one by one."""
    # Plain reads first: a dispatcher polls, and most polls find nothing to do (no free
    # backend, or none that can run a queued job), which must not take SQLite's write lock.
    candidates = list(usable_backends().filter(lease__isnull=True))
    if not candidates:
        return []
    titles = checkpoint_titles(candidates)
    # Read once, before the lock: a job claimed or cancelled since is skipped below (the
    # claim is a conditional UPDATE), and one sent since waits for the next poll.
    queued = queued_jobs()
    if not any(can_run(job, b, titles) for job in queued for b in candidates):
        return []
    picks: list[tuple[object, Backend]] = []
    with transaction.atomic():
        # Which candidates are still free, now that the lock is held: their ids only (the
        # rows were read above; reading them again was about a sixth of a claim's time).
        still_free = usable_backends().filter(lease__isnull=True, pk__in=[b.pk for b in candidates])
        if connection.vendor == "postgresql":
            still_free = still_free.select_for_update(skip_locked=True, of=("self",))
        free_ids = set(still_free.values_list("pk", flat=True))
        free = sorted((b for b in candidates if b.pk in free_ids), key=lambda b: b.pk)
        if not free:
            return []
        load = current_load({job.user_id for job in queued})
        now = timezone.now()
        for backend in free:
            while queued and (limit is None or len(picks) < limit):
                job = choose(backend, queued, load, titles, now)
                if job is None:
                    break
                queued.remove(job)
                if _claim(backend, job.id):  # else cancelled, or taken by another dispatcher
                    picks.append((job.id, backend))
                    load.running[job.user_id] += 1
                    load.last_served[job.user_id] = now
                    break
    # The rows, read after the lock is given back (they are this dispatcher's now). The
    # runner records each job's "started" event once its request is on the way to A1111.
    jobs = Job.objects.in_bulk([job_id for job_id, _ in picks])
    return [Claim(jobs[job_id], backend) for job_id, backend in picks if job_id in jobs]


def _claim(backend: Backend, job_id) -> bool:
    now = timezone.now()
    started = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        backend=backend,
        started_at=now,
        heartbeat_at=now,
        message=f"Running on {backend}.",
    )
    if not started:
        return False
    try:
        with transaction.atomic():
            BackendLease.objects.create(backend=backend, job_id=job_id)
    except IntegrityError:  # a second hub version racing on the same backend
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.QUEUED, backend=None, started_at=None, heartbeat_at=None
        )
        return False
    return True


def release(backend: Backend, job: Job) -> None:
    BackendLease.objects.filter(backend=backend, job=job).delete()


# --- housekeeping: leases of dead workers, jobs no backend can run ---------------------
def break_stale_leases() -> int:
    """Fail running jobs whose holder stopped beating (its worker died) and free their
    backends. Never re-runs them: A1111 may have run them already."""
    cutoff = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS)
    count = 0
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
    for job_id in stale.values_list("id", flat=True):
        failed = Job.objects.filter(
            pk=job_id, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff
        ).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message=(
                "The worker running this job stopped responding (no heartbeat for "
                f"{settings.HUB_JOB_STALE_SECONDS} s), so the job was failed rather than "
                "run twice. Submit it again."
            ),
        )
        BackendLease.objects.filter(job_id=job_id).delete()
        if failed:
            count += failed
            announce(job_id, JobEvent.Type.FAILED)
    # A lease whose job has ended is free (self-healing after a crash between the two).
    BackendLease.objects.filter(job__status__in=Job.FINAL).delete()
    return count


def fail_jobs_no_backend_can_run() -> int:
    """Fail queued jobs that no enabled backend could run, and those that waited longer
    than HUB_BACKEND_WAIT_SECONDS, each with the true reason."""
    backends = list(Backend.objects.filter(enabled=True))
    titles = checkpoint_titles(backends)
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.HUB_BACKEND_WAIT_SECONDS)
    failed = 0
    for job in queued_jobs():
        reason = unrunnable_reason(job, backends, titles)
        if reason is None and job.created_at < overdue:
            reason = (
                f"No A1111 backend became free within {settings.HUB_BACKEND_WAIT_SECONDS} s. "
                "Try again later, or add backends (A1111_URL takes several)."
            )
        if reason:
            moved = Job.objects.filter(pk=job.id, status=Job.Status.QUEUED).update(
                status=Job.Status.FAILED, finished_at=now, message=reason, eta_seconds=0
            )
            if moved:
                failed += moved
                announce(job.id, JobEvent.Type.FAILED)
    return failed
