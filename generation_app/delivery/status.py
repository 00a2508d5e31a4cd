"""What GET /jobs/{id} — the call every client polls — can answer without the database.

A finished job's body no longer changes (its status, message, times and links are final;
a running job's preview_url is the only signed part, and a finished job has none), so each
web process keeps the bodies it served for FINAL_BODY_SECONDS: a client that polls once
more after the end, or many clients fetching one shared job, cost no query. Backends' URLs
(a job's ``backend``) are kept for BACKEND_URL_SECONDS: a handful of rows, read by every
poll of a running or finished job.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from backends.models import Backend

FINAL_BODY_SECONDS = 60.0
FINAL_BODIES_MAX = 4096  # per process: about 2 MB of bodies
BACKEND_URL_SECONDS = 30.0

_lock = threading.Lock()
_final: OrderedDict[tuple[str, str], tuple[float, str, dict]] = OrderedDict()
_backend_urls: dict[int, tuple[float, str | None]] = {}


def final_body(job_id: str, base: str) -> tuple[str, dict] | None:
    """(user id, body) of a finished job this process served lately from ``base`` (its
    links are absolute on the host the client used), else None."""
    key = (job_id, base)
    with _lock:
        cached = _final.get(key)
        if cached is None:
            return None
        if cached[0] < time.monotonic():
            del _final[key]
            return None
        return cached[1], cached[2]


def keep_final_body(job_id: str, base: str, user_id: str, body: dict) -> None:
    """Remember a finished job's body as served from ``base`` (the oldest go first)."""
    with _lock:
        _final[(job_id, base)] = (time.monotonic() + FINAL_BODY_SECONDS, user_id, body)
        while len(_final) > FINAL_BODIES_MAX:
            _final.popitem(last=False)


def backend_url(backend_id: int | None) -> str | None:
    """A backend's URL as a job's body shows it; a changed URL shows within 30 s."""
    if backend_id is None:
        return None
    now = time.monotonic()
    cached = _backend_urls.get(backend_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    url = Backend.objects.filter(pk=backend_id).values_list("url", flat=True).first()
    if len(_backend_urls) > 1000:
        _backend_urls.clear()
    _backend_urls[backend_id] = (now + BACKEND_URL_SECONDS, url)
    return url


def forget() -> None:
    """For tests: what this process remembers."""
    with _lock:
        _final.clear()
        _backend_urls.clear()
