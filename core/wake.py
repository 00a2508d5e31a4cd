"""Wake signals: a counter every process of the hub can bump and read, so a poller looks
at the database only when something changed (and on a slow recheck) instead of every
tenth of a second.

The counter is a Redis key when the cache is Redis (processes on several machines), else
the size of a file in HUB_DATA_DIR, one byte appended per signal: reading it is a stat(),
and every process of a hub without Redis shares that folder (its media are there too).

A duty (:func:`hold`, :func:`on_duty`, :func:`release`) says that some poller is running
and will see the next signal: a sender can then skip starting one. It expires on its own, so
a poller that died holds nothing for long; a reading that fails says "nobody", the answer
that costs at worst a poller too many.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

logger = logging.getLogger(__name__)

FILE_MAX_BYTES = 1 << 20  # then the file starts again from empty (still a change)


def _redis():
    return caches["default"] if settings.HUB_CACHE_URL else None


def send(name: str) -> None:
    """Bump signal ``name`` once the current transaction commits (at once outside one):
    whoever wakes must be able to see what it was woken for. Never raises."""
    transaction.on_commit(lambda: _send_now(name))


def _send_now(name: str) -> None:
    try:
        cache = _redis()
        if cache is not None:
            key = f"wake:{name}"
            try:
                cache.incr(key)
            except ValueError:  # never sent yet (or evicted): start it, unless a racer did
                if not cache.add(key, 1, timeout=None):
                    cache.incr(key)
            return
        with open(_signal_file(settings.HUB_DATA_DIR, name), "ab") as handle:
            if handle.tell() >= FILE_MAX_BYTES:
                handle.truncate(0)
            handle.write(b".")
    except Exception:  # a poller's periodic recheck finds the work anyway
        logger.exception("Could not send the wake signal %s", name)


def read(name: str) -> Any:
    """Signal ``name``'s current value: compare two readings to know whether it was sent
    in between. None when it was never sent (or cannot be read)."""
    try:
        cache = _redis()
        if cache is not None:
            return cache.get(f"wake:{name}")
        stat = os.stat(_signal_file(settings.HUB_DATA_DIR, name))
        return (stat.st_size, stat.st_mtime_ns)
    except FileNotFoundError:
        return None
    except Exception:
        logger.exception("Could not read the wake signal %s", name)
        return None


@functools.lru_cache(maxsize=64)
def _signal_file(data_dir, name: str) -> str:
    """The file of signal ``name`` (built once: a queue's pusher reads it ten times a
    second)."""
    return os.fspath(data_dir / f"{name}.wake")


def hold(name: str, seconds: float) -> None:
    """Say that a poller is on duty ``name`` for the next ``seconds``. Never raises."""
    until = time.time() + seconds
    try:
        cache = _redis()
        if cache is not None:
            # Redis keeps whole seconds (0.3 would be 0: deleted); ``until`` is exact.
            cache.set(f"duty:{name}", until, timeout=math.ceil(seconds))
            return
        (settings.HUB_DATA_DIR / f"{name}.duty").write_text(repr(until))
    except Exception:  # then nobody seems on duty: senders start pollers, as before
        logger.exception("Could not hold the duty %s", name)


def on_duty(name: str) -> bool:
    """Whether a poller holds duty ``name`` now. False when it cannot be read."""
    try:
        cache = _redis()
        if cache is not None:
            until = cache.get(f"duty:{name}")
        else:
            until = float((settings.HUB_DATA_DIR / f"{name}.duty").read_text())
    except (FileNotFoundError, ValueError):
        return False
    except Exception:
        logger.exception("Could not read the duty %s", name)
        return False
    return until is not None and until > time.time()


def release(name: str) -> None:
    """Nobody holds duty ``name`` any more (another poller that still does holds it again
    at its next renewal). Never raises."""
    try:
        cache = _redis()
        if cache is not None:
            cache.delete(f"duty:{name}")
            return
        (settings.HUB_DATA_DIR / f"{name}.duty").unlink(missing_ok=True)
    except Exception:
        logger.exception("Could not release the duty %s", name)


class Duty:
    """One poller's hold on duty ``name``: taken, renewed every ``renew_every`` seconds
    while held (each hold lasts ``seconds``), and given up once, so a poller never drops a
    duty it gave up and another has taken since."""

    def __init__(self, name: str, seconds: float, renew_every: float) -> None:
        self.name, self.seconds, self.renew_every = name, seconds, renew_every
        self._held_at: float | None = None

    def hold(self) -> None:
        hold(self.name, self.seconds)
        self._held_at = time.monotonic()

    def renew(self) -> None:
        """Hold it again if it is held and its last hold is ``renew_every`` old."""
        if self._held_at is not None and time.monotonic() - self._held_at >= self.renew_every:
            self.hold()

    def release(self) -> None:
        if self._held_at is not None:
            self._held_at = None
            release(self.name)
