from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiKey

pytestmark = pytest.mark.django_db


def test_it_refuses_a_request_without_a_key():
    response = APIClient().get("/models")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert "Bearer" in response.json()["detail"]


def test_it_refuses_an_unknown_key():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer hub_not-a-real-key")
    response = client.get("/models")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"


def test_it_refuses_a_revoked_key(backend):
    key, raw = ApiKey.generate("soon revoked")
    key.is_active = False
    key.save()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/models").status_code == 401


def test_it_refuses_a_key_once_it_expires_even_while_it_is_remembered(backend):
    _, raw = ApiKey.generate("short-lived", expires_at=timezone.now() + timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/models").status_code == 200  # now this process remembers the key
    time.sleep(1.1)
    response = client.get("/models")
    assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"
    assert "expired at" in response.json()["detail"]


def test_create_api_key_can_make_a_key_that_expires():
    call_command("create_api_key", "trial", "--expires-in-days", "2", stdout=io.StringIO())
    left = ApiKey.objects.get(name="trial").expires_at - timezone.now()
    assert timedelta(days=2) - timedelta(minutes=1) < left <= timedelta(days=2)
    with pytest.raises(CommandError, match="positive"):
        call_command("create_api_key", "never", "--expires-in-days", "0")
    assert not ApiKey.objects.filter(name="never").exists()


def test_it_accepts_bearer_and_x_api_key_headers(backend, service_key):
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    assert bearer.get("/models").status_code == 200
    header = APIClient()
    header.credentials(HTTP_X_API_KEY=service_key)
    assert header.get("/models").status_code == 200


def test_it_stores_only_a_hash_of_the_key():
    key, raw = ApiKey.generate("hashed")
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in (stored.key_hash, stored.prefix)
    assert stored.key_hash != raw and len(stored.key_hash) == 64


def test_create_api_key_prints_the_key_alone_on_its_last_line():
    out = io.StringIO()
    call_command("create_api_key", "alice-phone", "--user", "alice", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(name="alice-phone")
    assert raw.startswith("hub_") and key.kind == ApiKey.Kind.USER and key.user_id == "alice"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/openapi.json").status_code == 200


def test_user_key_may_act_only_for_its_own_user(user_api):
    from core.auth import Principal

    alice = Principal(key_id=1, name="alice", user_id="alice")
    bot = Principal(key_id=2, name="bot")
    assert alice.may_act_for("alice") and not alice.may_act_for("bob")
    assert bot.may_act_for("alice") and bot.may_act_for("bob")


def test_anonymous_requests_act_as_a_service_when_allowed(backend, settings):
    settings.HUB_ALLOW_ANONYMOUS = True
    assert APIClient().get("/models").status_code == 200


def test_health_and_docs_need_no_key(backend):
    client = APIClient()
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_unknown_paths_answer_json_404():
    response = APIClient().get("/no/such/endpoint")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
