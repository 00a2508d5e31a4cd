"""The dispatcher: a django-q2 task that keeps every free backend busy.

It claims (backend, job) pairs from the scheduler and runs each in a thread of its own,
so one task drives as many backends as are free, whatever the number of queue workers.
Every new job enqueues a dispatch (unless one waits in the broker already); one that
finds nothing to claim ends at once. A running dispatcher looks again whenever one of
its jobs gives its backend back (as soon as A1111 answers, before the images are stored),
when a new job signals it (core.wake, checked every ``HUB_DISPATCH_POLL`` seconds, at the
cost of a stat() or a Redis GET), and every ``HUB_DISPATCH_RECHECK`` seconds: while it holds a queue
worker, the dispatch tasks of newer jobs may wait behind it, so it must find their jobs
itself. A backend
that comes back or is added in the admin is used the same way, without a restart. After ``HUB_DISPATCH_SECONDS`` it takes
no new jobs, hands over to a fresh task, and ends when its own jobs do, so no task
outlives django-q2's timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

from core import wake
from generation_app.models import Job
from generation_app.scheduling import claims, rule, runner

logger = logging.getLogger(__name__)

DISPATCH_TASK = "generation_app.tasks.dispatch"
MAX_THREADS = 256  # an upper bound on backends one dispatcher drives
WAKE_SIGNAL = claims.DISPATCH_SIGNAL  # core.wake: a new job, a backend given back


def enqueue_dispatch() -> bool:
    """Ask the generation queue for a dispatcher, and wake the running ones. False
    (logged) if the broker is down.

    None is added while one waits in the broker: it has not claimed yet, so it will see
    every job committed before this call. A burst of requests then costs one task, not one
    each (a task is a few database writes on the ORM broker, in three processes)."""
    signal_new_work()
    try:
        if _broker().queue_size():
            return True
        async_task(
            DISPATCH_TASK,
            task_name="dispatch",
            timeout=settings.JOB_TIMEOUT,
            # Named: in the housekeeping cluster (the sweep) the default is its own queue.
            cluster=settings.HUB_QUEUE_NAME,
        )
    except Exception:  # the broker's own driver errors (Redis, database)
        logger.exception("Could not enqueue a dispatcher")
        return False
    return True


@cache
def _broker() -> Broker:
    return get_broker(settings.HUB_QUEUE_NAME)  # only dispatch tasks go there


class _ThreadConnections:
    """The database connections of one dispatcher's job threads.

    A thread keeps its connection from job to job (on PostgreSQL opening one costs more
    CPU than a one-second job's own queries); once the threads have ended, the dispatcher
    closes them all. Django allows that from another thread only when the connection was
    marked as shared, which each thread does for its own on start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened: list = []

    def adopt(self) -> None:  # the pool's initializer, in each new thread
        wrapper = connections[DEFAULT_DB_ALIAS]
        wrapper.inc_thread_sharing()
        with self._lock:
            self._opened.append(wrapper)

    def close_all(self) -> None:  # after the pool has shut down
        for wrapper in self._opened:
            try:
                wrapper.close()
            except Exception:  # a broken connection: nothing left to close
                logger.exception("Closing a job thread's database connection failed")
            finally:
                wrapper.dec_thread_sharing()


def signal_new_work() -> None:
    """Tell running dispatchers that a job may be claimable now (core.wake)."""
    wake.send(WAKE_SIGNAL)


def work_signals() -> object:
    """The dispatchers' wake signal as it is now (compare two readings for a change)."""
    return wake.read(WAKE_SIGNAL)


def _run(claim: rule.Claim, freed: threading.Event) -> None:
    try:
        runner.run_claim(claim, on_release=freed.set)
    finally:
        connection.close_if_unusable_or_obsolete()  # kept for this thread's next job


def dispatch(max_seconds: float | None = None) -> int:
    """Run queued jobs on free backends until there is nothing to claim and nothing
    running here. Returns how many jobs it started."""
    max_seconds = settings.HUB_DISPATCH_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + max_seconds
    started = 0
    running: set[Future] = set()
    # Set when one of this dispatcher's jobs gives its backend back, and when it ends:
    # claim again at once rather than at the next poll.
    freed = threading.Event()
    signals = work_signals()  # read before claiming: a job signalled later is claimed later
    rechecked = time.monotonic()
    claims = _claim()
    if not claims:  # something may stand in the way: mend, then look again
        _mend()
        claims = _claim()
    handed_over = False
    threads = _ThreadConnections()
    pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="job", initializer=threads.adopt)
    try:
        while True:
            for claim in claims:
                future = pool.submit(_run, claim, freed)
                # Once the future is done (not before, or this loop would see it running
                # and wait out a poll), so a dispatcher with nothing left ends at once.
                future.add_done_callback(lambda _: freed.set())
                running.add(future)
                started += 1
            running = {future for future in running if not future.done()}
            if not running:
                break
            woken = freed.wait(timeout=settings.HUB_DISPATCH_POLL)
            freed.clear()
            claims = []
            now = time.monotonic()
            if now < deadline:
                latest = work_signals()
                if woken or latest != signals or now - rechecked >= settings.HUB_DISPATCH_RECHECK:
                    signals, rechecked = latest, now
                    claims = _claim()
            elif not handed_over:
                handed_over = True
                if Job.objects.filter(status=Job.Status.QUEUED).exists():
                    enqueue_dispatch()
    finally:
        pool.shutdown(wait=True)
        threads.close_all()
    return started


def _claim() -> list[rule.Claim]:
    """A poll: the connection stays open between polls (reopening one costs more than the
    poll), and is dropped after an error so the next poll starts afresh."""
    try:
        return claims.claim_batch()
    except Exception:  # a database hiccup must not leave running jobs unattended
        logger.exception("Claiming the next jobs failed; trying again shortly")
        connection.close()
        return []


def _mend() -> None:
    """When a dispatch finds nothing to claim although jobs may wait: free the backends of
    dead workers, and fail the jobs no backend can run, each with its reason. Not on every
    poll: the housekeeping sweep does the same every minute."""
    try:
        claims.break_stale_leases()
        claims.fail_jobs_no_backend_can_run()
    except Exception:
        logger.exception("Mending the queue failed; the housekeeping sweep will try again")
        connection.close()
