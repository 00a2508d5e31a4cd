"""Database connections kept by the threads of a pool, and closed together at its end."""

from __future__ import annotations

import logging
import threading

from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)


class ThreadConnections:
    """The database connections of a pool's threads (a dispatcher's job threads).

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
