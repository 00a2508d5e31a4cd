"""Which queued job runs on which free backend: the one scheduling decision the hub makes.

The rule (the README's "Scheduling" paragraph says the same):

1. A job only goes to a backend that can run it: enabled, healthy, not leased, with the
   extension its kind needs and the checkpoint it names.
2. Among the jobs a free backend can run, the highest key priority goes first; within a
   priority, the user with the fewest running jobs; then a job whose checkpoint that
   backend already has loaded (a swap costs seconds to minutes), unless a job has waited
   longer than ``HUB_AFFINITY_MAX_WAIT_SECONDS``; then the user served least recently
   (whose last job started longest ago, or never); then the oldest job.

That is round-robin between users: a user with a long backlog gets a turn, then waits
for everyone else's, even on a single backend.

A claim is one short transaction: the backend's lease row (its primary key is the
backend, so one INSERT wins) and the job's move from queued to running (a conditional
UPDATE). On PostgreSQL free backend rows are read ``FOR UPDATE SKIP LOCKED``, so two
dispatchers on two machines never look at the same backend; SQLite's IMMEDIATE
transactions take turns. Nothing slow (no HTTP) happens inside it.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from backends.models import Backend
from generation_app import events
from generation_app.models import BackendLease, Job

# Kinds that need an extension, by the capability recorded on Backend.capabilities.
REQUIRED_CAPABILITY = {
    Job.Kind.CONTROLNET: ("controlnet", "the ControlNet extension"),
    Job.Kind.REGIONAL: ("regional_prompter", "the Regional Prompter extension"),
}
# Capabilities a job of any kind may need (Job.needs), and how to say they are missing.
CAPABILITY_NAMES = {"adetailer": "the ADetailer extension"}
# An unhealthy backend is tried again after this long (a probe or a job may find it back).
UNHEALTHY_RETRY_SECONDS = 15
# How many of the oldest queued jobs one decision looks at (bounded work per claim).
CANDIDATE_LIMIT = 2000


@dataclass(frozen=True)
class QueuedJob:
    id: object
    user_id: str
    kind: str
    checkpoint: str
    priority: int
    created_at: datetime
    needs: tuple = ()
    total_steps: int = 0  # for the ETA


@dataclass(frozen=True)
class Claim:
    job: Job
    backend: Backend


def usable_backends(at: datetime | None = None):
    """Enabled backends that are healthy, or unhealthy long enough to be tried again."""
    retry_after = (at or timezone.now()) - timedelta(seconds=UNHEALTHY_RETRY_SECONDS)
    return Backend.objects.filter(enabled=True).filter(
        Q(healthy=True) | Q(last_checked_at__lt=retry_after) | Q(last_checked_at__isnull=True)
    )


def checkpoint_titles(backends: list[Backend]) -> dict[int, set[str] | None]:
    """Each backend's checkpoint titles, as its row last recorded them (the model catalog
    records them whenever it lists a backend, at most a minute old while requests come
    in); None when never listed, which counts as "has it": the run itself will say what is
    wrong. No HTTP here: a claim must stay fast with many backends."""
    titles: dict[int, set[str] | None] = {}
    for backend in backends:
        listed = backend.capabilities.get("checkpoints")
        titles[backend.pk] = set(listed) if listed is not None else None
    return titles


def can_run(job: QueuedJob, backend: Backend, titles: dict[int, set[str] | None]) -> bool:
    needed = REQUIRED_CAPABILITY.get(job.kind)
    if needed and not backend.capabilities.get(needed[0]):
        return False
    if any(not backend.capabilities.get(need) for need in job.needs):
        return False
    known = titles.get(backend.pk)
    return not job.checkpoint or known is None or job.checkpoint in known


NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Load:
    """Each user's share right now: running jobs, and when their last job started."""

    running: Counter = field(default_factory=Counter)
    last_served: dict[str, datetime] = field(default_factory=dict)


def _rank(job: QueuedJob, backend: Backend, load: Load, now: datetime) -> tuple:
    waited = (now - job.created_at).total_seconds()
    off_model = (
        bool(job.checkpoint)
        and job.checkpoint != backend.loaded_checkpoint
        and waited < settings.HUB_AFFINITY_MAX_WAIT_SECONDS
    )
    return (
        -job.priority,
        load.running[job.user_id],
        off_model,
        load.last_served.get(job.user_id, NEVER),
        job.created_at,
    )


def choose(
    backend: Backend,
    queued: list[QueuedJob],
    load: Load,
    titles: dict[int, set[str] | None],
    now: datetime,
) -> QueuedJob | None:
    """The best queued job for this backend under the rule, or None if it can run none."""
    runnable = [job for job in queued if can_run(job, backend, titles)]
    return min(runnable, key=lambda job: _rank(job, backend, load, now), default=None)


def queued_jobs(limit: int = CANDIDATE_LIMIT) -> list[QueuedJob]:
    rows = (
        Job.objects.filter(status=Job.Status.QUEUED)
        .order_by("created_at")
        .values_list(
            "id", "user_id", "kind", "checkpoint", "priority", "created_at", "needs", "total_steps"
        )[:limit]
    )
    return [QueuedJob(*row[:6], tuple(row[6] or ()), row[7]) for row in rows]


def current_load(users: set[str]) -> Load:
    """Running jobs per user, and when each of ``users`` was last served (the last day)."""
    running = Counter(
        Job.objects.filter(status=Job.Status.RUNNING).values_list("user_id", flat=True)
    )
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
        free = usable_backends().filter(lease__isnull=True, pk__in=[b.pk for b in candidates])
        if connection.vendor == "postgresql":
            free = free.select_for_update(skip_locked=True, of=("self",))
        free = list(free.order_by("id"))
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


def unrunnable_reason(job: QueuedJob, backends: list[Backend], titles) -> str | None:
    """Why no enabled backend could ever run this job (as things stand), or None."""
    if not backends:
        return (
            "No A1111 backend is configured or enabled. Set A1111_URL or enable one in the admin."
        )
    needed = REQUIRED_CAPABILITY.get(job.kind)
    capable = [b for b in backends if not needed or b.capabilities.get(needed[0])]
    if not capable:
        return f"No enabled backend has {needed[1]} any more. Install it on an A1111 backend (see the README)."
    for need in job.needs:
        capable = [b for b in capable if b.capabilities.get(need)]
        if not capable:
            what = CAPABILITY_NAMES.get(need, need)
            return f"No enabled backend has {what} any more. Install it on an A1111 backend (see the README)."
    if not any(can_run(job, b, titles) for b in capable):
        return (
            f"No enabled backend has the checkpoint {job.checkpoint!r} any more. Pick another "
            "one from GET /models."
        )
    return None


# --- the queue as the rule will run it (queue position and ETA) ------------------------
def forecast(
    queued: list[QueuedJob],
    load: Load,
    free_in: dict[int | None, float],
    running_for: list[tuple[float, str]],
    seconds: Callable[[QueuedJob, int | None], float | None],
    now: datetime | None = None,
) -> list[tuple[QueuedJob, float | None]]:
    """The queued jobs in the order the rule will start them, each with the seconds until
    it ends (None when no run time is known).

    Each backend, as it frees up (``free_in``: seconds from now), takes the best job under
    the rule; a start raises its user's running count and makes them the last served, an
    end (``running_for``: the running jobs' remaining seconds and users) lowers it. So a
    user's second job waits behind everyone else's first, as it will. Checkpoints and
    capabilities are left out: a forecast, not a claim."""
    now = now or timezone.now()
    running = Counter(load.running)
    served = {user: (at - now).total_seconds() for user, at in load.last_served.items()}
    ends = list(running_for)
    heapq.heapify(ends)
    by_user: dict[str, list[QueuedJob]] = {}
    for job in sorted(queued, key=lambda j: (-j.priority, j.created_at)):
        by_user.setdefault(job.user_id, []).append(job)
    head = dict.fromkeys(by_user, 0)
    version = dict.fromkeys(by_user, 0)

    def entry(user: str) -> tuple:
        job = by_user[user][head[user]]
        key = (-job.priority, running[user], served.get(user, -math.inf), job.created_at)
        return (key, user, version[user])

    users = [entry(user) for user in by_user]
    heapq.heapify(users)

    def changed(user: str) -> None:  # its key moved: the heap's old entry goes stale
        if user in head:
            version[user] += 1
            heapq.heappush(users, entry(user))

    free = [(at, backend) for backend, at in free_in.items()]
    heapq.heapify(free)
    order: list[tuple[QueuedJob, float | None]] = []
    while users:
        at, backend = heapq.heappop(free)
        while ends and ends[0][0] <= at:
            _, user = heapq.heappop(ends)
            running[user] -= 1
            changed(user)
        _, user, seen = heapq.heappop(users)
        if seen != version[user]:
            heapq.heappush(free, (at, backend))
            continue
        job = by_user[user][head[user]]
        head[user] += 1
        if head[user] == len(by_user[user]):
            del head[user]
        served[user] = at + len(order) * 1e-6  # later starts at the same moment rank later
        duration = seconds(job, backend)
        if duration is None:  # an unknown run holds nobody up
            order.append((job, None))
            heapq.heappush(free, (at, backend))
        else:
            order.append((job, at + duration))
            running[user] += 1
            heapq.heappush(ends, (at + duration, user))
            heapq.heappush(free, (at + duration, backend))
        changed(user)
    return order


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
            events.job_changed(job_id, events.FAILED)
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
                events.job_changed(job.id, events.FAILED)
    return failed
