"""GET /users/{user_id}/events: one stream for all of a user's jobs, resumable."""

from __future__ import annotations

import json

import pytest

from generation_app.delivery import streams
from generation_app.models import JobEvent

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4}


def read_events(response) -> list[dict]:
    """The stream's events as {id, event, data}, comments and the retry line left out."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream"
    text = b"".join(response.streaming_content).decode()
    parsed = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "event" in fields:
            parsed.append({**fields, "id": int(fields["id"]), "data": json.loads(fields["data"])})
    return parsed


@pytest.fixture
def short_streams(settings):
    settings.HUB_EVENT_STREAM_SECONDS = 1


def test_a_user_stream_has_the_events_of_every_job_in_order_and_resumes(
    user_api, backend, cluster, short_streams
):
    alice = user_api("alice")
    first = alice.post("/generate/txt2img", {**SMALL, "user_id": "alice"}, format="json")
    second = alice.post("/generate/txt2img", {**SMALL, "user_id": "alice"}, format="json")
    cluster.drain()
    jobs = [first.json()["job_id"], second.json()["job_id"]]

    got = read_events(alice.get("/users/alice/events", HTTP_LAST_EVENT_ID="0"))
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    milestones = [
        (e["data"]["data"]["job_id"], e["event"]) for e in got if e["event"] != "job.progress"
    ]
    # Each job's own events in order; the second may start before the first's completion
    # is recorded (the backend is given back as soon as A1111 answers).
    for job in jobs:
        assert [event for j, event in milestones if j == job] == ["job.started", "job.completed"]
    assert milestones[0] == (jobs[0], "job.started") and len(milestones) == 4
    for event in got:
        assert event["data"]["type"] == event["event"]
        assert event["data"]["data"]["user_id"] == "alice"
    done = got[-1]["data"]["data"]
    assert done["status"] == "completed" and done["result"]["images"]

    # Resume after the second event: only what came after it.
    resumed = read_events(alice.get("/users/alice/events", HTTP_LAST_EVENT_ID=str(ids[1])))
    assert [e["id"] for e in resumed] == ids[2:]
    # The same as a query parameter (an EventSource cannot set headers on its first try).
    by_query = read_events(alice.get(f"/users/alice/events?last_event_id={ids[1]}"))
    assert [e["id"] for e in by_query] == ids[2:]
    # Without Last-Event-ID the stream starts with the next event.
    assert read_events(alice.get("/users/alice/events")) == []


def test_a_stream_sees_new_events_as_they_happen(user_api, transactional_db, short_streams):
    from generation_app.delivery import events
    from generation_app.models import Job

    alice = user_api("alice")
    response = alice.get("/users/alice/events")
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"retry: 2000\n\n"  # the stream has started: "from now on"
    job = Job.objects.create(user_id="alice", kind="txt2img")
    other = Job.objects.create(user_id="bob", kind="txt2img")
    events.job_changed(other, events.STARTED)  # someone else's
    mine = events.job_changed(job, events.STARTED)
    text = b"".join(chunks).decode()
    assert f"id: {mine.pk}\nevent: job.started\n" in text
    assert str(other.pk) not in text


def test_a_user_key_follows_only_its_own_user(user_api, api, transactional_db, short_streams):
    alice = user_api("alice")
    response = alice.get("/users/bob/events")
    assert response.status_code == 403
    assert "bob" in response.json()["detail"]
    assert alice.head("/users/bob/events").status_code == 403
    assert read_events(api.get("/users/bob/events")) == []  # a service key: any user


def test_user_streams_count_against_the_stream_limits(user_api, transactional_db, settings):
    settings.HUB_MAX_EVENT_STREAMS_PER_KEY = 1
    alice = user_api("alice")
    # A HEAD holds nothing, however many.
    for _ in range(3):
        head = alice.head("/users/alice/events")
        assert head.status_code == 200 and head["Content-Type"] == "text/event-stream"
    held = alice.get("/users/alice/events")  # open, not read: holds this key's one slot
    assert held.status_code == 200
    refused = alice.get("/users/alice/events")
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_streams"
    held.close()
    settings.HUB_EVENT_STREAM_SECONDS = 0
    assert read_events(alice.get("/users/alice/events")) == []

    # The per-process cap applies too.
    held = [
        streams.process_slots.acquire(reserved=True) for _ in range(settings.HUB_MAX_EVENT_STREAMS)
    ]
    try:
        response = alice.get("/users/alice/events")
        assert response.status_code == 429
    finally:
        for release in held:
            release()


def test_a_bad_last_event_id_is_a_400(user_api, transactional_db):
    alice = user_api("alice")
    response = alice.get("/users/alice/events", HTTP_LAST_EVENT_ID="yesterday")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_last_event_id"
    assert not JobEvent.objects.exists()


def test_the_stream_is_in_the_openapi_document(api, db):
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/users/{user_id}/events"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"Last-Event-ID", "last_event_id", "user_id"} <= names
    assert set(operation["responses"]["429"]["content"]) == {"application/json"}
    body = schema["paths"]["/generate/txt2img"]["post"]["requestBody"]["content"]
    name = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    request = schema["components"]["schemas"][name]["properties"]
    assert "uri" in json.dumps(request["webhook_url"])


def test_a_job_stream_resumed_with_last_event_id_sends_what_was_missed(
    api, backend, cluster, settings
):
    settings.HUB_EVENT_STREAM_SECONDS = 5
    job_id = api.post(
        "/generate/txt2img",
        {"user_id": "u", "prompt": "x", "width": 64, "height": 64},
        format="json",
    ).json()["job_id"]
    first = b"".join(
        api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream").streaming_content
    )
    assert b"event: progress" in first  # queued: no event recorded yet, so no id
    cluster.drain()
    ids = list(JobEvent.objects.filter(job_id=job_id).order_by("id").values_list("id", flat=True))
    assert len(ids) >= 2  # started, completed
    resumed = api.get(
        f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream", HTTP_LAST_EVENT_ID=str(ids[0])
    )
    text = b"".join(resumed.streaming_content).decode()
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] != "job.started" and "job.completed" in events  # only what came after
    assert events[-1] == "done" and f"id: {ids[-1]}" in text
    bad = api.get(f"/jobs/{job_id}/events", HTTP_LAST_EVENT_ID="soon")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_last_event_id"


def test_a_bad_last_event_id_in_the_query_is_a_400_even_beside_a_good_header(
    user_api, transactional_db
):
    alice = user_api("alice")
    response = alice.get("/users/alice/events?last_event_id=null", HTTP_LAST_EVENT_ID="0")
    assert response.status_code == 400
    assert "last_event_id" in response.json()["fields"]
