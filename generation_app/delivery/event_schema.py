"""What the event streams send, for the OpenAPI document: the JSON ``data`` of each event
(the job, a live preview, the message webhooks get) and the ``text/event-stream`` answers
of GET /jobs/{job_id}/events and GET /users/{user_id}/events (core.openapi.event_stream
describes one event as an EventSource reads it). Kept beside the streams they describe."""

from __future__ import annotations

from core.openapi import component, event_stream
from generation_app.models import JobEvent

PREVIEW_DATA = {
    "type": "object",
    "required": ["job_id", "preview_url", "progress"],
    "properties": {
        "job_id": {"type": "string", "format": "uuid"},
        "preview_url": {"type": "string", "description": "As preview_url of GET /jobs/{id}."},
        "step": {"description": "The sampling step shown (an integer; null before the first)."},
        "progress": {"type": "number", "description": "0..1"},
    },
}
MESSAGE_DATA = {
    "type": "object",
    "required": ["type", "timestamp", "data"],
    "description": "The body webhooks POST: the job as GET /jobs/{id} shows it, with its "
    "`result` (images, seeds, grid_url, safety) on job.completed and job.cancelled.",
    "properties": {
        "type": {"type": "string", "enum": JobEvent.Type.values},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {
            "allOf": [component("Job")],
            "properties": {
                "result": {
                    "type": "object",
                    "properties": {
                        "images": {"type": "array", "items": {"type": "string"}},
                        "seeds": {"type": "array", "items": {"type": "integer"}},
                        "grid_url": {"type": "string", "nullable": True},
                        "safety": {"type": "array"},
                    },
                }
            },
        },
    },
}
JOB_STREAM = event_stream(
    {
        "progress": component("Job"),
        "done": component("Job"),
        "preview": PREVIEW_DATA,
        **{name: MESSAGE_DATA for name in JobEvent.Type.values},
    },
    "A text/event-stream; the schema is one event as an EventSource reads it. `progress` "
    "with the job's JSON (as GET /jobs/{job_id}) on every change, `preview` when the live "
    "preview changes, then `done` with its final state; after a Last-Event-ID, first the "
    "job's recorded events since then (`job.started`, `job.progress`... as webhooks get "
    "them). A `retry:` line and `: keep-alive` comments carry no event.",
)
USER_STREAM = event_stream(
    {name: MESSAGE_DATA for name in JobEvent.Type.values},
    "A text/event-stream of the user's job events; the schema is one event as an "
    "EventSource reads it: `event` is the type, `id` the event id to resume from, `data` "
    "the JSON webhooks get.",
)
