"""Server-sent events for a job: one `progress` event per change, a `preview` event per new
live preview (``{job_id, preview_url, step, progress}``), then `done`.

And one stream per user: every job event of the user (the JobEvent rows webhooks deliver),
each with its row id as SSE ``id``, so a client resumes with ``Last-Event-ID``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

from django.conf import settings

from core.limits import KeySlots, ProcessSlots
from generation_app.delivery.documents import job_body
from generation_app.models import Job, JobEvent

# Each open stream holds a web thread; a bounded number per process keeps the rest of the
# API (and the README's polling loop) answering however many clients stream. The last
# HUB_EVENT_STREAMS_RESERVED of them are for service keys: users holding every other slot
# cannot lock out the bot that serves them all.
process_slots = ProcessSlots(
    lambda: settings.HUB_MAX_EVENT_STREAMS,
    "event streams open",
    reserved=lambda: settings.HUB_EVENT_STREAMS_RESERVED,
    code="too_many_streams",
)
# Per key, across every web process (the shared cache); a slot outlives its stream by at
# most a minute if the process holding it is killed.
key_slots = KeySlots(
    lambda: settings.HUB_MAX_EVENT_STREAMS_PER_KEY,
    "event streams",
    hold_seconds=lambda: settings.HUB_EVENT_STREAM_SECONDS + 60,
    code="too_many_streams",
)


USER_EVENTS_BATCH = 200  # events sent at once from a backlog (a resume)


def take_slots(principal) -> Callable[[], None]:
    """A stream slot of the caller's key and of this process (429 when either is full);
    returns what gives both back."""
    release_key = key_slots.acquire(principal.key_id)
    try:
        release_process = process_slots.acquire(reserved=principal.is_service)
    except BaseException:
        release_key()
        raise

    def release() -> None:
        release_process()
        release_key()

    return release


def job_events(
    job: Job, request, release: Callable[[], None], after: int | None = None
) -> Iterator[str]:
    """The event stream of ``job``; ``release`` (from :func:`take_slots`) is called once
    when it ends, is closed, or the client goes away, even before it started. Each
    `progress`/`done` carries as ``id`` the job's latest event id; a client that comes back
    with ``after`` (its Last-Event-ID) first gets the job's events it missed (the bodies
    webhooks get), then the stream as usual."""
    return HeldStream(_stream(job.pk, request, after), [release])


def _missed(job_id, after: int) -> Iterator[str]:
    rows = JobEvent.objects.filter(job_id=job_id, id__gt=after).order_by("id")
    for event_id, event_type, payload in rows.values_list("id", "type", "payload")[
        :USER_EVENTS_BATCH
    ]:
        yield f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(payload, default=str)}\n\n"


def _latest_event_id(job_id) -> int | None:
    return (
        JobEvent.objects.filter(job_id=job_id).order_by("-id").values_list("id", flat=True).first()
    )


def _stream(job_id, request, after: int | None = None) -> Iterator[str]:
    yield "retry: 2000\n\n"
    if after is not None:
        yield from _missed(job_id, after)
    last = last_preview = None
    deadline = time.monotonic() + settings.HUB_EVENT_STREAM_SECONDS
    idle_until = time.monotonic() + settings.HUB_EVENT_STREAM_IDLE_SECONDS
    while time.monotonic() < min(deadline, idle_until):
        current = (
            Job.objects.select_related("backend").defer("payload", "request", "info").get(pk=job_id)
        )
        body = job_body(current, request)
        if body["preview_url"] and body["preview_url"] != last_preview:
            preview = {k: body[k] for k in ("job_id", "preview_url", "step", "progress")}
            yield f"event: preview\ndata: {json.dumps(preview)}\n\n"
            idle_until = time.monotonic() + settings.HUB_EVENT_STREAM_IDLE_SECONDS
        last_preview = body["preview_url"]
        # A new preview alone is a `preview` event, not a `progress` one too.
        state = {**body, "preview_url": None}
        if state != last:
            event = "done" if current.is_final else "progress"
            event_id = _latest_event_id(job_id)
            tag = f"id: {event_id}\n" if event_id else ""
            yield f"{tag}event: {event}\ndata: {json.dumps(body, default=str)}\n\n"
            idle_until = time.monotonic() + settings.HUB_EVENT_STREAM_IDLE_SECONDS
            last = state
        if current.is_final:
            return
        yield ": keep-alive\n\n"
        time.sleep(0.5)


def user_events(user_id: str, after: int | None, release: Callable[[], None]) -> Iterator[str]:
    """Every job event of ``user_id`` after event ``after`` (None: from now on), as they
    happen, for at most HUB_EVENT_STREAM_SECONDS. ``release`` (from :func:`take_slots`) is
    called once when the stream ends or is closed, even if it never started."""
    try:
        if after is None:
            after = (
                JobEvent.objects.filter(user_id=user_id)
                .order_by("-id")
                .values_list("id", flat=True)
                .first()
            ) or 0
    except BaseException:
        release()
        raise
    return HeldStream(_user_stream(user_id, after), [release])


class HeldStream:
    """An iterator holding slots, given back once when it is exhausted, closed or dropped
    (a generator's ``finally`` would not run for a stream closed before it started)."""

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

    def __del__(self) -> None:
        self.close()

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
    idle_until = time.monotonic() + settings.HUB_EVENT_STREAM_IDLE_SECONDS
    while time.monotonic() < min(deadline, idle_until):
        rows = list(
            events.filter(id__gt=after)
            .order_by("id")
            .values_list("id", "type", "payload")[:USER_EVENTS_BATCH]
        )
        for event_id, event_type, payload in rows:
            data = json.dumps(payload, default=str)
            yield f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n"
            after = event_id
        if rows:
            idle_until = time.monotonic() + settings.HUB_EVENT_STREAM_IDLE_SECONDS
        if len(rows) == USER_EVENTS_BATCH:
            continue  # a backlog (a resume): send it without waiting
        yield ": keep-alive\n\n"
        time.sleep(0.5)
