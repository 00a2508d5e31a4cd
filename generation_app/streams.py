"""Server-sent events for a job: one `progress` event per change, a `preview` event per new
live preview (``{job_id, preview_url, step, progress}``), then `done`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from core.errors import TooManyRequests
from generation_app.models import Job
from generation_app.serializers import job_body

# Each open stream holds a web thread; a bounded number per process keeps the rest of the
# API (and the README's polling loop) answering however many clients stream.
_event_streams = threading.BoundedSemaphore(settings.HUB_MAX_EVENT_STREAMS)


def job_events(job: Job, request=None) -> Iterator[str]:
    """Take a stream slot (429 when none is free) and return the event stream, which gives
    the slot back when it ends or the client goes away."""
    if not _event_streams.acquire(blocking=False):
        raise TooManyRequests(
            "Too many open event streams on this server; poll GET /jobs/{id} instead, "
            "or retry in a few seconds.",
            code="too_many_streams",
        )
    return _stream(job.pk, request)


def _stream(job_id, request) -> Iterator[str]:
    try:
        yield "retry: 2000\n\n"
        last = last_preview = None
        deadline = time.monotonic() + settings.HUB_EVENT_STREAM_SECONDS
        while time.monotonic() < deadline:
            current = (
                Job.objects.select_related("backend")
                .defer("payload", "request", "info")
                .get(pk=job_id)
            )
            body = job_body(current, request)
            if body["preview_url"] and body["preview_url"] != last_preview:
                preview = {k: body[k] for k in ("job_id", "preview_url", "step", "progress")}
                yield f"event: preview\ndata: {json.dumps(preview)}\n\n"
            last_preview = body["preview_url"]
            # A new preview alone is a `preview` event, not a `progress` one too.
            state = {**body, "preview_url": None}
            if state != last:
                event = "done" if current.is_final else "progress"
                yield f"event: {event}\ndata: {json.dumps(body, default=str)}\n\n"
                last = state
            if current.is_final:
                return
            yield ": keep-alive\n\n"
            time.sleep(0.5)
    finally:
        _event_streams.release()
