"""Which queued job runs on which free backend: the one scheduling decision the hub makes.

The rule (docs/guide/scheduling.md says the same):

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
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from backends.models import Backend
from generation_app.jobs.kinds import required_capability
from generation_app.models import Job

# Capabilities a job of any kind may need (Job.needs), and how to say they are missing.
CAPABILITY_NAMES = {"adetailer": "the ADetailer extension"}


# An unhealthy backend is tried again after this long (a probe or a job may find it back).
UNHEALTHY_RETRY_SECONDS = 15


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
    queue_key: datetime | None = None  # its place among its user's jobs (they may move them)

    @property
    def place(self) -> datetime:
        return self.queue_key or self.created_at


@dataclass(frozen=True)
class Claim:
    job: Job
    backend: Backend


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
    needed = required_capability(job.kind)
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
        job.place,
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


def unrunnable_reason(job: QueuedJob, backends: list[Backend], titles) -> str | None:
    """Why no enabled backend could ever run this job (as things stand), or None."""
    if not backends:
        return (
            "No A1111 backend is configured or enabled. Set A1111_URL or enable one in the admin."
        )
    needed = required_capability(job.kind)
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
    for job in sorted(queued, key=lambda j: (-j.priority, j.place)):
        by_user.setdefault(job.user_id, []).append(job)
    head = dict.fromkeys(by_user, 0)
    version = dict.fromkeys(by_user, 0)

    def entry(user: str) -> tuple:
        job = by_user[user][head[user]]
        key = (-job.priority, running[user], served.get(user, -math.inf), job.place)
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
