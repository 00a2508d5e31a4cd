"""The dispatcher: a django-q2 task that keeps every free backend busy.

It claims (backend, job) pairs from the scheduler and runs each in a thread of its own,
so one task drives as many backends as are free, whatever the number of queue workers.
It looks again whenever one of its jobs gives its backend back (as soon as A1111 answers,
before the images are stored), when a new job signals it (core.wake, read every
``HUB_DISPATCH_POLL`` seconds: a stat() or a Redis GET), and every
``HUB_DISPATCH_RECHECK`` seconds (a backend back in service or added in the admin, a job
on a machine the signal does not reach). It ends when nothing is left to claim or to run.

While it takes new jobs it holds the duty (core.wake): a new job then only signals it;
otherwise the job enqueues a dispatch (unless one waits in the broker already). It gives
the duty up before it stops taking jobs, then looks at the signal once more, so a job that
saw the duty held is never missed. After ``HUB_DISPATCH_SECONDS`` it takes no new jobs,
hands over to a fresh task, and ends when its own jobs do, so no task outlives django-q2's
timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

from django.conf import settings
from django.db import connection
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

from core import wake
from core.threads import ThreadConnections
from generation_app.models import Job
from generation_app.scheduling import claims, rule, runner

logger = logging.getLogger(__name__)

DISPATCH_TASK = "generation_app.tasks.dispatch"
MAX_THREADS = 256  # an upper bound on backends one dispatcher drives
WAKE_SIGNAL = claims.DISPATCH_SIGNAL  # core.wake: a new job, a backend given back
DUTY_RENEW_SECONDS = 1.0
DUTY_SECONDS = 5.0  # a dispatcher that died holds it no longer than this


def _duty() -> str:
    """core.wake's duty of this queue's dispatchers: they take new jobs and watch WAKE_SIGNAL
    (named for the queue: hubs, or test workers, may share HUB_DATA_DIR)."""
    return f"dispatcher-{settings.HUB_QUEUE_NAME}"


def enqueue_dispatch(force: bool = False) -> bool:
    """Ask the generation queue for a dispatcher, and wake the running ones. False
    (logged) if the broker is down.

    None is added while a running dispatcher holds the duty (it sees the signal, sent
    first), nor while one waits in the broker: it has not claimed yet, so it will see every
    job committed before this call. A burst of requests then costs one task, or none, not
    one each (a task is a few database writes on the ORM broker, in three processes).
    ``force``: add one unless one waits (a start, a handover, the sweep)."""
    signal_new_work()  # before looking at the duty: see dispatch()'s way out
    if not force and wake.on_duty(_duty()):
        return True
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


def signal_new_work() -> None:
    """Tell running dispatchers that a job may be claimable now (core.wake)."""
    wake.send(WAKE_SIGNAL)


def work_signals() -> object:
    """The dispatchers' wake signal as it is now (compare two readings for a change)."""
    return wake.read(WAKE_SIGNAL)


def _run(claim: rule.Claim, on_release: Callable[[], None]) -> None:
    try:
        runner.run_claim(claim, on_release=on_release)
    finally:
        connection.close_if_unusable_or_obsolete()  # kept for this thread's next job


def dispatch(max_seconds: float | None = None) -> int:
    """Run queued jobs on free backends until there is nothing to claim and nothing
    running here. Returns how many jobs it started."""
    max_seconds = settings.HUB_DISPATCH_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + max_seconds
    started = 0
    running: set[Future] = set()
    # ``wakeup`` is set when one of this dispatcher's jobs gives its backend back (claim
    # again at once, not at the next poll: ``freed`` says so), and when one ends (nothing
    # to claim, but a dispatcher with nothing left ends at once).
    wakeup, freed = threading.Event(), threading.Event()

    def on_release() -> None:
        freed.set()
        wakeup.set()

    duty = wake.Duty(_duty(), DUTY_SECONDS, DUTY_RENEW_SECONDS)
    duty.hold()
    signals = work_signals()  # read before claiming: a job signalled later is claimed later
    rechecked = time.monotonic()
    claims = _claim()
    if not claims:  # something may stand in the way: mend, then look again
        _mend()
        claims = _claim()
    handed_over = False
    threads = ThreadConnections()
    pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="job", initializer=threads.adopt)
    try:
        while True:
            for claim in claims:
                future = pool.submit(_run, claim, on_release)
                # Once the future is done (not before, or this loop would see it running
                # and wait out a poll).
                future.add_done_callback(lambda _: wakeup.set())
                running.add(future)
                started += 1
            running = {future for future in running if not future.done()}
            if not running:
                if handed_over:
                    break
                # The way out: give the duty up, then look at the signal once more. A job
                # whose sender saw the duty held signalled before this, so it is seen here.
                duty.release()
                latest = work_signals()
                if latest == signals:
                    break
                duty.hold()  # take it again, and look (then the way out)
                signals, claims = latest, _claim()
                continue
            wakeup.wait(timeout=settings.HUB_DISPATCH_POLL)
            wakeup.clear()
            woken = freed.is_set()  # read after the clear: a later release wakes it again
            freed.clear()
            claims = []
            now = time.monotonic()
            if now < deadline:
                duty.renew()
                latest = work_signals()
                if woken or latest != signals or now - rechecked >= settings.HUB_DISPATCH_RECHECK:
                    signals, rechecked = latest, now
                    claims = _claim()
            elif not handed_over:
                handed_over = True
                duty.release()  # before looking: a job sent from now on queues a task
                if Job.objects.filter(status=Job.Status.QUEUED).exists():
                    enqueue_dispatch(force=True)
    finally:
        duty.release()  # unless given up already (another may hold it by now)
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
