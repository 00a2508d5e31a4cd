"""Caps on things that hold a server thread (an open event stream, a caption): per API key
across every web process (counted in the shared cache), and per process."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

from django.core.cache import caches

from core.errors import TooManyRequests


class KeySlots:
    """At most ``limit()`` held at once per API key, across every web process.

    Each slot is one shared-cache entry taken with ``add`` (atomic in Redis and in the
    database cache), so two processes never hand out the same slot. An entry expires after
    ``hold_seconds()``, the longest a holder can keep it: a process that is killed while
    holding a slot gives it back by itself."""

    def __init__(
        self,
        limit: Callable[[], int],
        what: str,
        hold_seconds: Callable[[], float],
        code: str = "too_many_requests",
    ):
        self.limit = limit
        self.what = what
        self.hold_seconds = hold_seconds
        self.code = code

    def _slot(self, key, index: int) -> str:
        return f"slots:{self.what.replace(' ', '-')}:{key}:{index}"

    def held(self, key) -> int:
        """How many of ``key``'s slots are taken now, by any process."""
        cache = caches["shared"]
        return sum(cache.get(self._slot(key, i)) is not None for i in range(self.limit()))

    def acquire(self, key) -> Callable[[], None]:
        cache, limit, token = caches["shared"], self.limit(), uuid.uuid4().hex
        timeout = self.hold_seconds()
        slot = next(
            (
                self._slot(key, i)
                for i in range(limit)
                if cache.add(self._slot(key, i), token, timeout)
            ),
            None,
        )
        if slot is None:
            raise TooManyRequests(
                f"This API key already has {limit} {self.what} open (the limit is {limit}, "
                "across the hub); wait for one to end, or poll instead.",
                code=self.code,
            )
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                if cache.get(slot) == token:  # not one that expired and was taken again
                    cache.delete(slot)

        return release


class ProcessSlots:
    """At most ``limit()`` held at once in this process, whoever holds them; the last
    ``reserved()`` of them only for callers that ask with ``reserved=True`` (service keys),
    so that users holding every slot cannot lock out the bot that serves them all."""

    def __init__(
        self,
        limit: Callable[[], int],
        what: str,
        reserved: Callable[[], int] = lambda: 0,
        code: str = "too_many_requests",
    ):
        self.limit = limit
        self.what = what
        self.reserved = reserved
        self.code = code
        self.held = 0
        self.lock = threading.Lock()

    def acquire(self, reserved: bool = False) -> Callable[[], None]:
        with self.lock:
            limit = self.limit()
            open_to_caller = limit if reserved else max(0, limit - self.reserved())
            if self.held >= open_to_caller:
                raise TooManyRequests(
                    f"This web process already has {self.held} {self.what} (the limit is "
                    f"{open_to_caller} for this key); poll instead, or retry in a few seconds.",
                    code=self.code,
                )
            self.held += 1
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self.lock:
                    self.held -= 1

        return release


def releasing(stream: Iterator, release: Callable[[], None]) -> Iterator:
    """Yield ``stream``, then release (also when the client goes away)."""
    try:
        yield from stream
    finally:
        release()
