"""Wake signals: a counter every process of the hub can bump and read, so a poller looks
at the database only when something changed (and on a slow recheck) instead of every
tenth of a second.

The counter is a Redis key when the cache is Redis (processes on several machines), else
the size of a file in HUB_DATA_DIR, one byte appended per signal: reading it is a stat(),
and every process of a hub without Redis shares that folder (its media are there too).
"""

from __future__ import annotations

import logging
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
        with open(settings.HUB_DATA_DIR / f"{name}.wake", "ab") as handle:
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
        stat = (settings.HUB_DATA_DIR / f"{name}.wake").stat()
        return (stat.st_size, stat.st_mtime_ns)
    except FileNotFoundError:
        return None
    except Exception:
        logger.exception("Could not read the wake signal %s", name)
        return None
