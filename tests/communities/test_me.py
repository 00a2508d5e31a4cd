"""GET /me: who a key is, and the limits that apply to it — the hub's settings tightened by
the policy (global < community < channel < key), each with who set it."""

from __future__ import annotations

from rest_framework.test import APIClient

from core.models import ApiKey


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_user_key_learns_its_user_and_the_hubs_limits(db, settings):
    settings.HUB_MAX_STEPS = 80
    me = client_for(ApiKey.generate("alice phone", user_id="alice")[1]).get("/me")
    assert me.status_code == 200, me.json()
    body = me.json()
    assert (body["user_id"], body["is_service"], body["key_name"]) == (
        "alice",
        False,
        "alice phone",
    )
    assert body["limits"]["steps"] == {"max": 80, "set_by": "hub"}
    assert body["features"]["txt2img"] is True


def test_a_tighter_policy_cap_wins_and_says_who_set_it(db, settings):
    settings.HUB_POLICY = {"max_steps": 40, "max_width": 4096}
    raw = ApiKey.generate("bob web", user_id="bob", policy={"max_steps": 30})[1]
    body = client_for(raw).get("/me").json()
    assert body["limits"]["steps"] == {"max": 30, "set_by": "key"}
    assert body["limits"]["width"] == {"max": settings.HUB_MAX_WIDTH, "set_by": "hub"}
    settings.HUB_POLICY = {"max_steps": 12}
    assert client_for(raw).get("/me").json()["limits"]["steps"] == {"max": 12, "set_by": "global"}


def test_a_community_policy_applies_there(api, db):
    created = api.post("/communities", {"id": "g1", "name": "G", "policy": {"max_steps": 25}})
    assert created.status_code == 201, created.json()
    assert api.get("/me").json()["is_service"] is True
    there = api.get("/me?community_id=g1").json()
    assert there["limits"]["steps"] == {"max": 25, "set_by": "community"}
    assert api.get("/me?community_id=nope").status_code == 404


def test_it_needs_a_key(db):
    assert APIClient().get("/me").status_code == 401
