"""GET /jobs, /jobs/{id}, its result, events and image files: what a client reads of its jobs."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jobhelpers import submit

from generation_app.models import Job


def test_result_as_urls_leaves_the_base64_out(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    result = api.get(f"/jobs/{job_id}/result?format=url").json()
    assert result["images"][0].startswith("http://testserver/images/")


def test_a_result_item_has_exactly_the_documented_fields(api, backend, cluster):
    from generation_app.delivery.documents import ImageVariantSerializer, JobImageSerializer

    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    item = api.get(f"/jobs/{job_id}/result").json()["items"][0]
    assert list(item) == list(JobImageSerializer().fields)
    assert item["role"] == "image" and (item["width"], item["height"]) == (64, 64)
    assert isinstance(item["seed"], int) and "Steps:" in item["infotext"]
    assert [v["name"] for v in item["variants"]] == ["original", "compressed", "thumbnail"]
    assert all(list(v) == list(ImageVariantSerializer().fields) for v in item["variants"])
    assert item["variants"][0]["url"] == item["url"]
    assert item["variants"][2]["url"] == item["thumbnail_url"]


def test_queue_positions_follow_arrival_order(api, backend):
    ids = [submit(api, {"user_id": f"u{i}", "prompt": "x"}).json()["job_id"] for i in range(3)]
    assert [api.get(f"/jobs/{i}").json()["queue_position"] for i in ids] == [1, 2, 3]


def test_result_is_409_until_the_job_completes(api, backend):
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    response = api.get(f"/jobs/{job_id}/result")
    assert response.status_code == 409
    assert response.json()["status"] == "queued"


def test_an_unknown_job_is_404(api, db):
    assert api.get("/jobs/3f1c1f9e-8f34-4d5e-9d0e-000000000000").status_code == 404
    assert api.get("/jobs/your-job-id").status_code == 404


def test_the_history_is_per_user_newest_first_and_paginated(api, user_api, backend, cluster):
    for prompt in ("one", "two", "three"):
        submit(api, {"user_id": "alice", "prompt": prompt, "width": 64, "height": 64})
    submit(api, {"user_id": "bob", "prompt": "bob's", "width": 64, "height": 64})
    cluster.drain()
    alice = user_api("alice")
    page = alice.get("/jobs?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert [r["user_id"] for r in page["results"]] == ["alice", "alice"]
    assert page["results"][0]["created_at"] >= page["results"][1]["created_at"]
    assert page["results"][0]["thumbnail_url"]
    assert alice.get("/jobs?user_id=bob").status_code == 403
    assert alice.get("/jobs?status=bogus").status_code == 400
    assert len(api.get("/jobs?status=completed&kind=txt2img").json()["results"]) == 4


def test_a_user_key_cannot_see_another_users_job_or_images(api, user_api, backend, cluster):
    job_id = submit(api, {"user_id": "alice", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    url = api.get(f"/jobs/{job_id}/result?format=url").json()["images"][0]
    unsigned = url.split("?")[0]  # a signed link is a capability; without it, the key decides
    bob = user_api("bob")
    assert bob.get(f"/jobs/{job_id}").status_code == 403
    assert bob.get(f"/jobs/{job_id}/result").status_code == 403
    assert bob.get(unsigned).status_code == 403
    assert user_api("alice").get(unsigned).status_code == 200


def test_events_stream_ends_with_the_final_state(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "event: done" in text and '"status": "completed"' in text


def test_event_streams_are_bounded_per_process(api, backend, settings):
    from generation_app.delivery import streams

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    held = [
        streams.process_slots.acquire(reserved=True) for _ in range(settings.HUB_MAX_EVENT_STREAMS)
    ]
    try:
        response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
        assert response.status_code == 429
        assert json.loads(response.content)["error"] == "too_many_streams"
    finally:
        for release in held:
            release()
    settings.HUB_EVENT_STREAM_SECONDS = 0  # a queued job: the stream ends at its deadline
    response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
    assert b"retry: 2000" in b"".join(response.streaming_content)


def test_the_job_status_body_has_exactly_the_documented_fields(api, backend):
    from generation_app.delivery.documents import JobSerializer

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    body = api.get(f"/jobs/{job_id}").json()
    assert list(body) == list(JobSerializer().fields)
    assert body["created_at"].endswith("Z") and body["started_at"] is None


def test_a_status_poll_reads_only_the_columns_it_shows(api, backend):
    """The payload may hold megabytes of base64 images; GET /jobs/{id} never loads it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    Job.objects.filter(pk=job_id).update(status="running", backend=backend)
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/jobs/{job_id}").json()
    assert body["status"] == "running" and body["backend"] == backend.url
    job_reads = [q["sql"] for q in queries if 'FROM "generation_app_job"' in q["sql"]]
    assert len(job_reads) == 1
    assert '"payload"' not in job_reads[0] and '"request"' not in job_reads[0]


def test_job_links_are_the_routes_they_name(api, backend):
    from django.urls import reverse

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    links = api.get(f"/jobs/{job_id}").json()["links"]
    for name, url_name in (
        ("self", "job-detail"),
        ("result", "job-result"),
        ("cancel", "job-cancel"),
        ("events", "job-events"),
    ):
        assert links[name] == "http://testserver" + reverse(url_name, args=[job_id])


def test_only_stored_image_names_are_served(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    assert api.get(f"/images/{job_id}/0.png").status_code == 200
    assert api.get(f"/images/{job_id}/0.thumb.webp").status_code == 200
    for bad in (f"{job_id}/1.png", f"{job_id}/x/0.png", "not-a-uuid/0.png", f"{job_id}"):
        response = api.get(f"/images/{bad}")
        assert response.status_code == 404, bad
        # A name the hub wrote, or not even the shape of one (no such route).
        assert response.json()["error"] in ("image_not_found", "job_not_found", "not_found")


def test_a_finished_jobs_status_is_served_from_memory_to_whoever_may_see_it(
    api, user_api, backend, cluster
):
    body = {"user_id": "alice", "prompt": "x", "width": 64, "height": 64}
    job_id = submit(api, body).json()["job_id"]
    running = api.get(f"/jobs/{job_id}").json()
    cluster.drain()
    first = api.get(f"/jobs/{job_id}").json()
    assert running["status"] == "queued" and first["status"] == "completed"
    with CaptureQueriesContext(connection) as queries:
        again = api.get(f"/jobs/{job_id}").json()
    assert again == first and len(queries.captured_queries) == 0
    assert user_api("alice").get(f"/jobs/{job_id}").json() == first
    assert user_api("mallory").get(f"/jobs/{job_id}").status_code == 403
    # Links are absolute on the host the client used, whichever host asked first.
    other = api.get(f"/jobs/{job_id}", HTTP_HOST="hub.example").json()
    assert other["links"]["self"].startswith("http://hub.example/")


def _bad_query(response, parameter: str) -> None:
    """A bad query value is a 400 in the hub's shape, naming the parameter."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_request" and parameter in body["fields"], body
    assert parameter in body["detail"]


def test_an_unknown_result_format_is_a_400_naming_it(api, backend):
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    response = api.get(f"/jobs/{job_id}/result?format=AAA")
    _bad_query(response, "format")
    assert "base64, url" in response.json()["fields"]["format"][0]


@pytest.mark.parametrize(
    "query, parameter",
    [("offset=null", "offset"), ("limit=0", "limit"), ("status=done", "status"),
     ("kind=", "kind"), ("user_id=", "user_id")],
)  # fmt: skip
def test_a_malformed_job_list_query_is_a_400_naming_it(api, db, query, parameter):
    _bad_query(api.get(f"/jobs?{query}"), parameter)


def test_a_signed_link_with_a_malformed_expiry_is_a_400_even_with_a_key(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    _bad_query(api.get(f"/images/{job_id}/0.png?expires=soon"), "expires")
