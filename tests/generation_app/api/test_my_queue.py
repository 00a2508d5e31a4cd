"""A user's control of their own queue: move, pause, resume, cancel all; an operator's
boost. The fair share between users is untouched."""

from __future__ import annotations

from rest_framework.test import APIClient

from core.models import ApiKey
from generation_app.models import Job

SMALL = {"prompt": "a kite", "width": 64, "height": 64, "steps": 2}


def queue(api, user: str, prompt: str) -> str:
    body = {**SMALL, "user_id": user, "prompt": prompt}
    response = api.post("/generate/txt2img", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["job_id"]


def run_order() -> list[str]:
    return [
        j.request["prompt"] for j in Job.objects.filter(status="completed").order_by("started_at")
    ]


def test_moving_a_job_to_the_front_changes_only_its_users_order(api, backend, cluster):
    queue(api, "bob", "b1")
    a1, a2, a3 = (queue(api, "alice", p) for p in ("a1", "a2", "a3"))
    moved = api.post(f"/jobs/{a3}/move", {"where": "front"}, format="json")
    assert moved.status_code == 200
    assert [j["job_id"] for j in moved.json()["jobs"]] == [a3, a1, a2]
    cluster.drain()
    assert run_order() == ["b1", "a3", "a1", "a2"]  # bob's job, ahead of alice's, stays ahead


def test_moving_before_another_of_my_jobs_and_the_refusals(api, backend, user_api):
    a1, a2, a3 = (queue(api, "alice", p) for p in ("a1", "a2", "a3"))
    b1 = queue(api, "bob", "b1")
    moved = api.post(f"/jobs/{a3}/move", {"before": a2}, format="json").json()
    assert [j["job_id"] for j in moved["jobs"]] == [a1, a3, a2]
    refused = api.post(f"/jobs/{a3}/move", {"before": b1}, format="json")
    assert refused.status_code == 400 and "your queued jobs" in refused.json()["detail"]
    assert api.post(f"/jobs/{a3}/move", {"where": "sideways"}, format="json").status_code == 400
    bob = user_api("bob")
    assert bob.post(f"/jobs/{a1}/move", {"where": "front"}, format="json").status_code in (403, 404)
    assert bob.post("/users/alice/queue/pause").status_code == 403


def test_pause_keeps_jobs_and_lets_others_run_resume_runs_them(api, backend, cluster, settings):
    settings.HUB_MAX_ACTIVE_JOBS_PER_USER = 2
    queue(api, "alice", "a1"), queue(api, "alice", "a2")
    assert api.post("/users/alice/queue/pause").json() == {"count": 2}
    queue(api, "alice", "a3 while paused")  # paused jobs do not count against the cap
    api.post("/users/alice/queue/pause")
    queue(api, "bob", "b1")
    cluster.drain()
    assert run_order() == ["b1"]
    assert set(Job.objects.filter(user_id="alice").values_list("status", flat=True)) == {"paused"}
    listed = api.get("/users/alice/queue").json()
    assert listed["paused"] == 3 and {j["status"] for j in listed["jobs"]} == {"paused"}
    assert api.post("/users/alice/queue/resume").json() == {"count": 3}
    cluster.drain()
    assert run_order() == ["b1", "a1", "a2", "a3 while paused"]


def test_cancel_all_of_mine(api, backend):
    for prompt in ("a1", "a2"):
        queue(api, "alice", prompt)
    queue(api, "bob", "b1")
    api.post("/users/alice/queue/pause")
    queue(api, "alice", "a3")
    assert api.post("/users/alice/queue/cancel").json() == {"count": 3}
    assert set(Job.objects.filter(user_id="alice").values_list("status", flat=True)) == {
        "cancelled"
    }
    assert Job.objects.get(user_id="bob").status == "queued"


def test_a_job_paused_too_long_is_cancelled(api, backend, settings):
    from datetime import timedelta

    from django.utils import timezone

    from generation_app.jobs.ordering import expire_paused

    queue(api, "alice", "a1")
    api.post("/users/alice/queue/pause")
    settings.HUB_PAUSE_MAX_HOURS = 1
    assert expire_paused(timezone.now() + timedelta(hours=2)) == 1
    job = Job.objects.get()
    assert job.status == "cancelled" and "HUB_PAUSE_MAX_HOURS" in job.message


def test_only_the_admin_scope_boosts_a_job(api, backend):
    job_id = queue(api, "alice", "a1")
    assert api.post(f"/jobs/{job_id}/priority", {"priority": 5}, format="json").status_code == 403
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.generate('ops', is_admin=True)[1]}")
    boosted = admin.post(f"/jobs/{job_id}/priority", {"priority": 5}, format="json")
    assert boosted.status_code == 200 and Job.objects.get().priority == 5
