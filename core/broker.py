"""django-q2's ORM broker, woken by enqueues instead of querying its table every poll.

The stock ORM broker's pusher runs a query every ``poll`` seconds (0.1 s here, so a job's
dispatch task starts at once): ten queries a second per cluster, which was nearly all of an
idle hub's CPU. This one checks a wake signal (core.wake: a stat() or a Redis GET) every
poll and queries only when a task was enqueued since its last look, or every
HUB_QUEUE_RECHECK seconds (a task whose lock expired, one enqueued where the signal does
not reach). Used when the broker is the database (no REDIS_URL)."""

from __future__ import annotations

import time

from django.conf import settings
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from core import wake


class WakingORM(ORM):
    def __init__(self, list_key: str | None = None):
        super().__init__(list_key=list_key)
        self._seen: object = object()  # never equal to a reading: the first poll queries
        self._looked_at = -float("inf")

    def _signal(self) -> str:
        return f"queue-{self.list_key}"

    def enqueue(self, task) -> int:
        pk = super().enqueue(task)
        wake.send(self._signal())
        return pk

    def dequeue(self):
        seen = wake.read(self._signal())  # before the query: a later enqueue is a change
        if seen == self._seen and time.monotonic() - self._looked_at < settings.HUB_QUEUE_RECHECK:
            time.sleep(Conf.POLL)
            return None
        self._seen, self._looked_at = seen, time.monotonic()
        tasks = super().dequeue()
        if tasks:  # it takes Conf.BULK at a time: more may wait under the same signal
            self._seen = object()
        return tasks
