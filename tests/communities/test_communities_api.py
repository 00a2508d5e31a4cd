"""Communities over HTTP: a community with its policy and channels, requests made in it
refused with the rule that refused them, dry runs, budgets, bans and the audit log."""

from __future__ import annotations

import pytest

from communities.models import AuditEntry, Charge
from core.models import ApiKey
from generation_app.models import Job
from loras_app.models import Lora, LoraTag, Tag

POLICY = {
    "max_steps": 30,
    "blocked_checkpoints": ["realisticVision_v51"],
    "blocked_loras": ["tag:nsfw"],
    "banned_words": ["gore", "ass"],
    "nsfw": "block",
}
SMALL = {"user_id": "u1", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4}


@pytest.fixture
def guild(api, backend):
    created = api.post(
        "/communities", {"id": "g1", "name": "Guild One", "policy": POLICY}, format="json"
    )
    assert created.status_code == 201, created.json()
    age_restricted = {"nsfw": True, "policy": {"nsfw": "spoiler"}}
    assert api.put("/communities/g1/channels/B", age_restricted, format="json").status_code == 200
    return created.json()


def ask(api, community="g1", channel="A", **fields):
    body = {**SMALL, **fields, "community_id": community, "channel_id": channel}
    body = {k: v for k, v in body.items() if v is not None}
    return api.post("/generate/txt2img", body, format="json")


def refusal(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("rule", body["error"]), body["detail"]


def test_each_violation_is_refused_naming_its_rule(api, guild):
    status, rule, detail = refusal(ask(api, steps=31))
    assert (status, rule) == (400, "max_steps") and "at most 30 steps" in detail
    status, rule, detail = refusal(ask(api, checkpoint="realisticVision_v51.safetensors"))
    assert (status, rule) == (403, "blocked_checkpoints") and "realisticVision_v51" in detail
    status, rule, _ = refusal(ask(api, prompt="a g0r3 scene"))
    assert (status, rule) == (403, "banned_words")
    assert refusal(ask(api, prompt="g o r e"))[1] == "banned_words"
    assert ask(api, prompt="class portrait, bass guitar").status_code == 202
    assert Job.objects.count() == 1  # only the request that broke no rule


def test_a_lora_tagged_nsfw_is_refused(api, guild):
    lora = Lora.objects.create(filename="spicy.safetensors", name="Spicy", prompt_name="spicy")
    LoraTag.objects.create(lora=lora, tag=Tag.objects.create(name="nsfw"), frequency=1)
    status, rule, detail = refusal(ask(api, loras={"spicy.safetensors": 0.8}))
    assert (status, rule) == (403, "blocked_loras") and "tag:nsfw" in detail


def test_the_channel_sets_what_a_flagged_image_becomes(api, guild):
    assert Job.objects.get(pk=ask(api, channel="A").json()["job_id"]).nsfw_action == "block"
    assert Job.objects.get(pk=ask(api, channel="B").json()["job_id"]).nsfw_action == "spoiler"
    policy = api.get("/communities/g1/policy?channel_id=B").json()
    assert policy["nsfw"] == "spoiler" and policy["channel_nsfw"] is True
    assert policy["policy"]["max_steps"] == 30 and policy["sources"]["max_steps"] == "community"


def test_a_dry_run_reports_cost_and_budget_and_creates_nothing(api, guild):
    api.patch("/communities/g1", {"policy": {**POLICY, "budget": {"per_user": 100}}}, format="json")
    response = ask(api, dry_run=True, width=512, height=512, steps=20)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["dry_run"] is True and body["cost"] == pytest.approx(0.262144 * 20, abs=0.01)
    assert body["user_budget_left"] == 100 and body["policy"]["max_steps"] == 30
    assert not Job.objects.exists() and not Charge.objects.exists()


def test_a_spent_budget_refuses_or_downgrades_as_configured(api, guild):
    budget = {"per_user": 10, "when_spent": "refuse"}
    api.patch("/communities/g1", {"policy": {**POLICY, "budget": budget}}, format="json")
    big = {"width": 512, "height": 512, "steps": 20}  # 5.24 units
    assert ask(api, **big).status_code == 202
    spent = ask(api, **big)
    assert spent.status_code == 429 and spent.json()["error"] == "budget_spent"
    assert "Retry-After" in spent and spent.json()["budget_left"] == pytest.approx(4.76, abs=0.01)
    usage = api.get("/users/u1/usage?community_id=g1").json()
    assert usage["spent"] == pytest.approx(5.24, abs=0.01) and usage["left"] < 5

    api.patch(
        "/communities/g1",
        {"policy": {**POLICY, "budget": {**budget, "when_spent": "downgrade"}}},
        format="json",
    )
    downgraded = ask(api, **big)
    assert downgraded.status_code == 202
    assert Job.objects.get(pk=downgraded.json()["job_id"]).priority < 0
    assert AuditEntry.objects.filter(verdict="downgraded").count() == 1


def test_a_failed_or_cancelled_job_gives_its_units_back(api, guild):
    job_id = ask(api, width=512, height=512, steps=20).json()["job_id"]
    assert Charge.objects.get(job_id=job_id).refunded is False
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 200
    assert Charge.objects.get(job_id=job_id).refunded is True


def test_a_banned_user_is_refused_there_and_only_there(api, guild):
    ban = api.post("/communities/g1/bans", {"user_id": "u1", "reason": "spam"}, format="json")
    assert ban.status_code == 201
    refused = ask(api)
    assert refused.status_code == 403 and refused.json()["error"] == "banned"
    assert "spam" in refused.json()["detail"]
    assert api.post("/generate/txt2img", SMALL, format="json").status_code == 202  # elsewhere
    assert api.delete("/communities/g1/bans/u1").status_code == 204
    assert ask(api).status_code == 202


def test_the_audit_log_has_every_request_and_its_verdict(api, guild):
    ask(api, prompt="a gore scene")
    ask(api, prompt="a quiet harbour")
    page = api.get("/communities/g1/audit?q=harbour").json()
    assert page["count"] == 1 and page["results"][0]["verdict"] == "admitted"
    refused = api.get("/communities/g1/audit?verdict=refused").json()["results"]
    assert [(e["rule"], e["user_id"], e["channel_id"]) for e in refused] == [
        ("banned_words", "u1", "A")
    ]


def test_without_a_community_the_hub_works_as_before(api, backend):
    response = api.post("/generate/txt2img", {**SMALL, "steps": 80}, format="json")
    assert response.status_code == 202
    assert Job.objects.get().nsfw_action == "allow" and not AuditEntry.objects.exists()


def test_community_defaults_sit_under_the_request(api, guild):
    api.patch("/communities/g1", {"defaults": {"cfg_scale": 3.5, "steps": 12}}, format="json")
    job = Job.objects.get(pk=ask(api, steps=None).json()["job_id"])
    assert job.payload["cfg_scale"] == 3.5 and job.payload["steps"] == 12
    job = Job.objects.get(pk=ask(api, steps=9).json()["job_id"])
    assert job.payload["steps"] == 9


def test_a_key_bound_to_a_community_acts_only_there(api, guild, db):
    raw = ApiKey.generate("bot for g1", community_id="g1")[1]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.post("/generate/txt2img", {**SMALL, "steps": 31}, format="json").status_code == 400
    other = {**SMALL, "community_id": "g2"}
    assert api.post("/generate/txt2img", other, format="json").status_code == 403
    assert api.get("/communities/g1").status_code == 200
    assert [c["id"] for c in api.get("/communities").json()] == ["g1"]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"id": "g9", "name": "x", "policy": {"max_steps": "lots"}}, 400),
        (
            {"id": "g9", "name": "x", "policy": {"allowed_loras": ["a"], "blocked_loras": ["a"]}},
            400,
        ),
        ({"id": "g9", "name": "x", "defaults": {"stepz": 3}}, 400),
        ({"id": "bad id!", "name": "x"}, 400),
        ({"id": "g1", "name": "again"}, 409),
    ],
)
def test_bad_communities_are_clear_errors(api, guild, body, status):
    response = api.post("/communities", body, format="json")
    assert response.status_code == status and response.json()["detail"]


def test_unknown_communities_and_user_keys(api, guild, user_api):
    assert ask(api, community="nope").status_code == 404
    assert api.get("/communities/nope").status_code == 404
    assert api.put("/communities/nope/channels/A", {}, format="json").status_code == 404
    alice = user_api("u1")
    assert alice.post("/communities", {"id": "mine", "name": "x"}, format="json").status_code == 403
    assert alice.post("/communities/g1/bans", {"user_id": "u2"}, format="json").status_code == 403
    refused = alice.post(
        "/generate/txt2img", {**SMALL, "community_id": "g1", "steps": 31}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["rule"] == "max_steps"


def test_budgets_and_verdicts_are_in_the_metrics(api, guild):
    ask(api, width=512, height=512, steps=20)
    ask(api, prompt="gore")
    admin = ApiKey.generate("ops", is_admin=True)[1]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {admin}")
    text = api.get("/metrics").content.decode()
    assert 'a1111hub_community_units_24h{community="g1"} 5.24' in text
    assert 'a1111hub_community_requests_24h{community="g1",verdict="refused"} 1.0' in text


@pytest.mark.parametrize("query", ["verdict=", "verdict=maybe", "limit=none", "q="])
def test_a_bad_audit_filter_is_a_400_naming_it(api, guild, query):
    response = api.get(f"/communities/g1/audit?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["fields"]


def test_a_blank_channel_or_community_is_a_400_naming_it(api, guild):
    assert "channel_id" in api.get("/communities/g1/policy?channel_id=").json()["fields"]
    assert "community_id" in api.get("/users/u1/usage?community_id=").json()["fields"]
