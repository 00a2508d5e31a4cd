"""Server-sent events for a job: one `progress` event per change, a `preview` event per new
live preview (``{job_id, preview_url, step, progress}``), then `done`.

And one stream per user: every job event of the user (the JobEvent rows webhooks deliver),
each with its row id as SSE ``id``, so a client resumes with ``Last-Event-ID``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from core.errors import TooManyRequests
from generation_app.delivery.documents import job_body
from generation_app.models import Job, JobEvent

# Each open stream holds a web thread; a bounded number per process keeps the rest of the
# API (and the README's polling loop) answering however many clients stream.
_event_streams = threading.BoundedSemaphore(settings.HUB_MAX_EVENT_STREAMS)


def _take_slot() -> None:
    if not _event_streams.acquire(blocking=False):
        raise TooManyRequests(
            "Too many open event streams on this server; poll GET /jobs/{id} instead, "
            "or retry in a few seconds.",
            code="too_many_streams",
        )


def job_events(job: Job, request=None) -> Iterator[str]:
    """Take a stream slot (429 when none is free) and return the event stream, which gives
    the slot back when it ends or the client goes away."""
    _take_slot()
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


USER_EVENTS_BATCH = 200


def user_events(user_id: str, after: int | None, release=None) -> Iterator[str]:
    """Every job event of ``user_id`` after event ``after`` (None: from now on), as they
    happen, for at most HUB_EVENT_STREAM_SECONDS. Takes a stream slot like job_events; the
    slot (and ``release``, the caller's) is given back when the stream ends or is closed,
    even if it never started."""
    _take_slot()
    try:
        if after is None:
            after = (
                JobEvent.objects.filter(user_id=user_id)
                .order_by("-id")
                .values_list("id", flat=True)
                .first()
            ) or 0
    except BaseException:
        _event_streams.release()
        raise
    releases = [_event_streams.release] + ([release] if release else [])
    return HeldStream(_user_stream(user_id, after), releases)


class HeldStream:
    """An iterator holding slots, given back once when it is exhausted or closed (a
    generator's ``finally`` would not run for a stream closed before it started)."""

    def __init__(self, stream: Iterator[str], releases: list):
        self.stream, self.releases, self.closed = stream, releases, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        try:
            return next(self.stream)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.stream.close()
        finally:
            for release in self.releases:
                release()


def _user_stream(user_id: str, after: int) -> Iterator[str]:
    yield "retry: 2000\n\n"
    events = JobEvent.objects.filter(user_id=user_id)
    deadline = time.monotonic() + settings.HUB_EVENT_STREAM_SECONDS
    while time.monotonic() < deadline:
        rows = list(
            events.filter(id__gt=after)
            .order_by("id")
            .values_list("id", "type", "payload")[:USER_EVENTS_BATCH]
        )
        for event_id, event_type, payload in rows:
            data = json.dumps(payload, default=str)
            yield f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n"
            after = event_id
        if len(rows) == USER_EVENTS_BATCH:
            continue  # a backlog (a resume): send it without waiting
        yield ": keep-alive\n\n"
        time.sleep(0.5)
