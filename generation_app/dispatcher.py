"""The dispatcher: a django-q2 task that keeps every free backend busy.

It claims (backend, job) pairs from the scheduler and runs each in a thread of its own,
so one task drives as many backends as are free, whatever the number of queue workers.
Every new job enqueues a dispatch; one that finds nothing to claim ends at once. A
running dispatcher looks again whenever a job ends and every couple of seconds, so a
backend that comes back or is added in the admin is used without a restart. After
``HUB_DISPATCH_SECONDS`` it takes no new jobs, hands over to a fresh task, and ends when
its own jobs do, so no task outlives django-q2's timeout.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, connection
from django_q.tasks import async_task

from generation_app import runner, scheduler
from generation_app.models import Job

logger = logging.getLogger(__name__)

DISPATCH_TASK = "generation_app.tasks.dispatch"
LOOK_AGAIN_SECONDS = 2.0
MAX_THREADS = 256  # an upper bound on backends one dispatcher drives


def enqueue_dispatch() -> bool:
    """Ask the generation queue for a dispatcher. False (logged) if the broker is down."""
    try:
        async_task(DISPATCH_TASK, task_name="dispatch", timeout=settings.JOB_TIMEOUT)
    except Exception:  # the broker's own driver errors (Redis, database)
        logger.exception("Could not enqueue a dispatcher")
        return False
    return True


def _run(claim: scheduler.Claim) -> None:
    try:
        runner.run_claim(claim)
    finally:
        connection.close()  # this thread's own connection


def dispatch(max_seconds: float | None = None) -> int:
    """Run queued jobs on free backends until there is nothing to claim and nothing
    running here. Returns how many jobs it started."""
    max_seconds = settings.HUB_DISPATCH_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + max_seconds
    started = 0
    running: set[Future] = set()
    scheduler.break_stale_leases()  # a backend held by a dead worker is free again
    scheduler.fail_jobs_no_backend_can_run()
    handed_over = False
    with ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="job") as pool:
        while True:
            if time.monotonic() < deadline:
                for claim in _claim():
                    running.add(pool.submit(_run, claim))
                    started += 1
            elif not handed_over:
                handed_over = True
                if Job.objects.filter(status=Job.Status.QUEUED).exists():
                    enqueue_dispatch()
            if not running:
                break
            _, running = wait(running, timeout=LOOK_AGAIN_SECONDS, return_when=FIRST_COMPLETED)
    return started


def _claim() -> list[scheduler.Claim]:
    close_old_connections()
    try:
        return scheduler.claim_batch()
    except Exception:  # a database hiccup must not leave running jobs unattended
        logger.exception("Claiming the next jobs failed; trying again shortly")
        return []
