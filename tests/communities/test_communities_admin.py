"""The admin edits communities, channels and bans with the API's checks, and searches the
audit log."""

from __future__ import annotations

from communities.models import AuditEntry, Community


def test_the_admin_refuses_a_policy_the_api_would(admin_client):
    response = admin_client.post(
        "/admin/communities/community/add/",
        {
            "id": "g1",
            "name": "Guild",
            "policy": '{"max_steps": 0, "allowed_loras": ["a"], "blocked_loras": ["a"]}',
            "defaults": "{}",
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
            "bans-TOTAL_FORMS": "0",
            "bans-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the errors
    html = response.content.decode()
    assert "max_steps" in html and "both allowed and blocked" in html
    assert not Community.objects.exists()


def test_the_admin_saves_a_community_with_a_channel_and_a_ban(admin_client):
    response = admin_client.post(
        "/admin/communities/community/add/",
        {
            "id": "g1",
            "name": "Guild",
            "policy": '{"max_steps": 30, "nsfw": "blur"}',
            "defaults": '{"steps": 20}',
            "channels-TOTAL_FORMS": "1",
            "channels-INITIAL_FORMS": "0",
            "channels-0-channel_id": "B",
            "channels-0-nsfw": "on",
            "channels-0-policy": '{"nsfw": "spoiler"}',
            "channels-0-defaults": "{}",
            "bans-TOTAL_FORMS": "1",
            "bans-INITIAL_FORMS": "0",
            "bans-0-user_id": "discord:42",
            "bans-0-reason": "spam",
            "bans-0-banned_by": "admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    community = Community.objects.get()
    assert community.policy == {"max_steps": 30, "nsfw": "blur"}
    assert community.channels.get().nsfw is True
    assert community.bans.get().user_id == "discord:42"


def test_the_audit_log_is_searchable_and_read_only(admin_client):
    community = Community.objects.create(id="g1", name="Guild")
    AuditEntry.objects.create(
        community=community, user_id="u1", kind="txt2img", prompt="a quiet harbour",
        verdict="admitted",
    )  # fmt: skip
    AuditEntry.objects.create(
        community=community, user_id="u2", kind="txt2img", prompt="a gore scene",
        verdict="refused", rule="banned_words",
    )  # fmt: skip
    response = admin_client.get("/admin/communities/auditentry/?q=harbour")
    # The rows the change list shows, not its HTML: a random CSRF token can hold "u2".
    assert [entry.user_id for entry in response.context["cl"].result_list] == ["u1"]
    assert admin_client.get("/admin/communities/auditentry/add/").status_code == 403
