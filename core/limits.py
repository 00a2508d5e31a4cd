"""Per-key caps on things that hold a server thread (an open event stream)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

from core.errors import TooManyRequests


class KeySlots:
    """At most ``limit()`` held at once per API key, in this process."""

    def __init__(self, limit: Callable[[], int], what: str):
        self.limit = limit
        self.what = what
        self.held: Counter = Counter()
        self.lock = threading.Lock()

    def acquire(self, key) -> Callable[[], None]:
        with self.lock:
            if self.held[key] >= self.limit():
                raise TooManyRequests(
                    f"This API key already has {self.held[key]} {self.what} open here (the "
                    f"limit is {self.limit()}); close one, or poll instead.",
                    code="too_many_streams",
                )
            self.held[key] += 1
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self.lock:
                    self.held[key] -= 1

        return release


class ProcessSlots:
    """At most ``limit()`` held at once in this process, whoever holds them."""

    def __init__(self, limit: Callable[[], int], what: str):
        self.limit = limit
        self.what = what
        self.held = 0
        self.lock = threading.Lock()

    def acquire(self) -> Callable[[], None]:
        with self.lock:
            if self.held >= self.limit():
                raise TooManyRequests(
                    f"This web process is already running {self.held} {self.what} (the limit "
                    f"is {self.limit()}); try again in a few seconds.",
                    code="too_many_requests",
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
