"""Reading jobs: queue position and ETA, a user's history. Cheap, for the hottest reads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import median

from django.core.cache import cache

from backends.models import Backend
from generation_app.models import Job
from generation_app.scheduling import claims, rule


@dataclass(frozen=True)
class QueueState:
    position: int | None
    eta_seconds: float | None


SNAPSHOT_KEY = "generation:queue-snapshot:2"  # (computed at, snapshot)
SNAPSHOT_SECONDS = 1.0  # every poller shares one computation per second
# While one poll recomputes an old snapshot, the others answer from it rather than all
# recomputing at once (with many clients polling, that stampede cost half the throughput).
SNAPSHOT_REFRESH_KEY = "generation:queue-snapshot-refresh"
SNAPSHOT_KEEP_SECONDS = 30.0
RECENT_JOBS = 50  # completed jobs that step times are learned from
RATES_KEY = "generation:step-rates"
RATES_SECONDS = 5.0  # step times change slowly: learned again at most this often


def queue_state(job: Job) -> QueueState:
    """Queue position (1 = next) and seconds until done, under the scheduler's rule."""
    if job.status == Job.Status.RUNNING:
        return QueueState(None, job.eta_seconds)
    if job.status != Job.Status.QUEUED:
        return QueueState(None, None)
    position, eta = _shared_snapshot(str(job.pk)).get(str(job.pk), (None, None))
    return QueueState(position, eta)


def _shared_snapshot(job_id: str) -> dict[str, tuple[int, float | None]]:
    """The last snapshot if it holds the job and is fresh, or if another poll is already
    recomputing it; else a new one. A job sent since the last one always gets a new one."""
    cached = cache.get(SNAPSHOT_KEY)
    if cached is not None:
        computed_at, snapshot = cached
        if job_id in snapshot and (
            time.time() - computed_at < SNAPSHOT_SECONDS
            or not cache.add(SNAPSHOT_REFRESH_KEY, True, SNAPSHOT_SECONDS)
        ):
            return snapshot
    snapshot = queue_snapshot()
    cache.set(SNAPSHOT_KEY, (time.time(), snapshot), SNAPSHOT_KEEP_SECONDS)
    return snapshot


def queue_snapshot() -> dict[str, tuple[int, float | None]]:
    """Every queued job's position and ETA: the rule played forward on the enabled
    backends (scheduler.forecast), at the step times recently seen there."""
    queued = claims.queued_jobs()
    running = list(
        Job.objects.filter(status=Job.Status.RUNNING).values(
            "user_id", "backend_id", "checkpoint", "total_steps", "progress", "eta_seconds"
        )
    )
    load = claims.current_load({job.user_id for job in queued}, [j["user_id"] for j in running])
    rates = StepRates.recent()
    free_in: dict[int | None, float] = dict.fromkeys(
        Backend.objects.filter(enabled=True).values_list("id", flat=True), 0.0
    )
    running_for = []
    for job in running:
        remaining = job["eta_seconds"]
        if remaining is None:
            rate = rates.rate(job["backend_id"], job["checkpoint"])
            remaining = (1 - job["progress"]) * job["total_steps"] * rate if rate else 0.0
        remaining = max(0.0, remaining)
        running_for.append((remaining, job["user_id"]))
        if job["backend_id"] in free_in:
            free_in[job["backend_id"]] = remaining

    def seconds(job: rule.QueuedJob, backend_id: int | None) -> float | None:
        rate = None if backend_id is None else rates.rate(backend_id, job.checkpoint)
        return None if rate is None else job.total_steps * rate

    if not free_in:  # no backend: positions still, no ETA
        free_in = {None: 0.0}
    forecast = rule.forecast(queued, load, free_in, running_for, seconds)
    return {
        str(job.id): (position, None if ends is None else round(ends, 1))
        for position, (job, ends) in enumerate(forecast, start=1)
    }


@dataclass
class StepRates:
    """Seconds per sampling step (the job's whole run time over its steps, so overheads
    are included), by backend and checkpoint, from recently completed jobs."""

    by_model: dict[tuple[int, str], float]
    by_backend: dict[int, float]
    overall: float | None

    @classmethod
    def recent(cls) -> StepRates:
        """Kept RATES_SECONDS: a new job's answer needs them, and reading the rows was
        nearly half of a POST's queue snapshot (21 of 46 samples in bench.cpu's profile)."""
        rates = cache.get(RATES_KEY)
        if rates is None:
            rates = cls._learn()
            cache.set(RATES_KEY, rates, RATES_SECONDS)
        return rates

    @classmethod
    def _learn(cls) -> StepRates:
        rows = (
            Job.objects.filter(
                status=Job.Status.COMPLETED, started_at__isnull=False, total_steps__gt=0
            )
            .order_by("-finished_at")
            .values_list("backend_id", "checkpoint", "started_at", "finished_at", "total_steps")[
                :RECENT_JOBS
            ]
        )
        by_model: dict[tuple[int, str], list[float]] = {}
        by_backend: dict[int, list[float]] = {}
        every = []
        for backend_id, checkpoint, started, finished, total in rows:
            rate = (finished - started).total_seconds() / total
            by_model.setdefault((backend_id, checkpoint), []).append(rate)
            by_backend.setdefault(backend_id, []).append(rate)
            every.append(rate)
        return cls(
            {k: median(v) for k, v in by_model.items()},
            {k: median(v) for k, v in by_backend.items()},
            median(every) if every else None,
        )

    def rate(self, backend_id: int, checkpoint: str) -> float | None:
        return self.by_model.get(
            (backend_id, checkpoint), self.by_backend.get(backend_id, self.overall)
        )
