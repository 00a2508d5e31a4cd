"""GET /users/{user_id}/events: one event stream for all of a user's jobs."""

from __future__ import annotations

import json

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from core.auth import check_user_access
from core.errors import ApiError
from core.openapi import READ, errors
from core.query import QueryIntegerField, read_query
from generation_app.api.jobs import get_job
from generation_app.delivery import streams
from generation_app.delivery.event_schema import JOB_STREAM, USER_STREAM


class EventStreamRenderer(renderers.BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class EventsQuerySerializer(serializers.Serializer):
    """The query of the event streams."""

    last_event_id = QueryIntegerField(
        required=False,
        min_value=0,
        help_text="The same as the Last-Event-ID header, for clients that cannot set headers.",
    )


LAST_EVENT_ID = [
    OpenApiParameter(
        "Last-Event-ID",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        description="Resume after this event id (the `id` of the last event seen).",
    ),
    EventsQuerySerializer,
]


class JobEventsView(APIView):
    """Server-sent events: one `progress` event per change, then `done` with the final state.

    A stream lasts at most HUB_EVENT_STREAM_SECONDS; EventSource clients reconnect by
    themselves (the `retry:` line says when)."""

    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    @extend_schema(
        parameters=LAST_EVENT_ID,
        responses={
            (200, "text/event-stream"): JOB_STREAM,
            **errors(READ, 400, 404, e429="Too many open streams for this key or this hub."),
        },
        tags=["jobs"],
        summary="Stream progress (SSE)",
        description="Server-sent events: one `progress` event per change, then `done` with "
        "the final state. A stream lasts at most HUB_EVENT_STREAM_SECONDS, and ends after "
        "HUB_EVENT_STREAM_IDLE_SECONDS without an event; EventSource "
        "clients reconnect by themselves (the `retry:` line says when). Each `progress` and "
        "`done` has as `id` the job's latest event id: reconnecting with Last-Event-ID first "
        "sends the job's events since then (`job.started`, `job.progress`, `job.completed`..., "
        "as webhooks get them). One stream for all of a user's jobs: GET /users/{user_id}/events.",
    )
    def get(self, request: Request, job_id) -> StreamingHttpResponse:
        job = get_job(request, job_id)
        after = _last_event_id(request)
        stream = streams.job_events(job, request, streams.take_slots(request.user), after)
        response = StreamingHttpResponse(stream, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    @extend_schema(exclude=True)
    def head(self, request: Request, job_id) -> HttpResponse:
        """Headers only: a HEAD never opens (or holds) a stream."""
        get_job(request, job_id)
        response = HttpResponse(content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        return response


EVENT_STREAM_DESCRIPTION = """\
Server-sent events: every job event of the user, as it happens — the same events, with
the same JSON bodies, as webhooks get (`job.started`, `job.progress` at most every 2 s
per job, `job.completed`, `job.failed`, `job.cancelled`):

```
id: 42
event: job.completed
data: {"type": "job.completed", "timestamp": "...", "data": {<the job, as GET /jobs/{id}>, "result": {"images": [...], "seeds": [...]}}}
```

Each event's `id` increases. Reconnect with `Last-Event-ID: <the last id you saw>` (an
EventSource does it by itself; or `?last_event_id=`) to get what you missed: events are
kept HUB_EVENT_RETENTION_HOURS (24 h by default). Without it, the stream starts with the
next event. A stream lasts at most
HUB_EVENT_STREAM_SECONDS, and ends after HUB_EVENT_STREAM_IDLE_SECONDS without an event
(reconnect with `Last-Event-ID`: nothing is lost); it counts against the same stream limits as
`GET /jobs/{id}/events` (429 when they are reached). A user key may only follow its own
user; a service key any user."""


def _last_event_id(request: Request) -> int | None:
    """Where to resume: the Last-Event-ID header, else ``?last_event_id=`` (both checked)."""
    query = read_query(request, EventsQuerySerializer)
    raw = request.META.get("HTTP_LAST_EVENT_ID")
    if raw in (None, ""):
        return query.get("last_event_id")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError(
            f"Last-Event-ID {raw!r} is not an event id: send the `id` of the last event you "
            "received (a whole number), or nothing to start from now.",
            code="bad_last_event_id",
        )
    return value


class UserEventsView(APIView):
    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    @extend_schema(
        parameters=LAST_EVENT_ID,
        responses={
            (200, "text/event-stream"): USER_STREAM,
            **errors(READ, 400, e429="Too many open streams for this key or this hub."),
        },
        tags=["jobs"],
        summary="Stream all of a user's job events (SSE)",
        description=EVENT_STREAM_DESCRIPTION,
    )
    def get(self, request: Request, user_id: str) -> StreamingHttpResponse:
        check_user_access(request, user_id)
        after = _last_event_id(request)
        stream = streams.user_events(user_id, after, streams.take_slots(request.user))
        response = StreamingHttpResponse(stream, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    @extend_schema(exclude=True)
    def head(self, request: Request, user_id: str) -> HttpResponse:
        """Headers only: a HEAD never opens (or holds) a stream."""
        check_user_access(request, user_id)
        response = HttpResponse(content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        return response
