"""Sign-in links: `manage.py app_link alice` prints /app#token=...; the page trades the
token, once and within HUB_APP_LINK_MINUTES, for a new user key (a CSRF-checked post)."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import Client

from core.models import ApiKey
from webui.links import make_link


def token_of(link: str) -> str:
    return link.split("#token=", 1)[1]


@pytest.fixture
def browser_client(db) -> Client:
    """A client that checks CSRF the way a browser meets it: the shell first, then a post
    with the token from the shell's meta tag."""
    client = Client(enforce_csrf_checks=True)
    shell = client.get("/app").content.decode()
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', shell).group(1)
    return client


def trade(client: Client, token: str, csrf: bool = True):
    headers = {"HTTP_X_CSRFTOKEN": client.csrf} if csrf else {}
    return client.post("/app/sign-in", {"token": token}, content_type="application/json", **headers)


def test_a_link_signs_its_user_in_once(browser_client):
    out = io.StringIO()
    call_command("app_link", "alice", "--url", "http://hub.lan:8000", stdout=out)
    link = out.getvalue().strip()
    assert link.startswith("http://hub.lan:8000/app#token=")
    answer = trade(browser_client, token_of(link))
    assert answer.status_code == 200, answer.json()
    assert answer.json()["user_id"] == "alice" and answer["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(user_id="alice")
    assert key.kind == ApiKey.Kind.USER and key.name == "web app link for alice"
    lasts = key.expires_at - key.created_at  # a key kept in a browser does not live forever
    assert abs(lasts - timedelta(days=settings.HUB_APP_KEY_DAYS)) < timedelta(minutes=1)
    me = Client().get("/me", HTTP_AUTHORIZATION=f"Bearer {answer.json()['key']}")
    assert me.json()["user_id"] == "alice"
    again = trade(browser_client, token_of(link))
    assert again.status_code == 400 and "already used" in again.json()["detail"]
    assert ApiKey.objects.count() == 1


def test_an_expired_or_forged_link_signs_nobody_in(browser_client):
    expired = trade(browser_client, token_of(make_link("alice", minutes=0)))
    assert expired.status_code == 400 and "expired" in expired.json()["detail"]
    forged = signing.dumps({"u": "mallory", "n": "x", "e": time.time() + 60}, salt="guess")
    assert trade(browser_client, forged).json()["error"] == "link_invalid"
    assert trade(browser_client, token_of(make_link("alice")) + "x").status_code == 400
    assert ApiKey.objects.count() == 0


def test_the_trade_needs_the_pages_csrf_token(browser_client):
    """Another site cannot sign a visitor in as someone else (login CSRF)."""
    assert trade(browser_client, token_of(make_link("alice")), csrf=False).status_code == 403
    assert ApiKey.objects.count() == 0


def test_the_command_refuses_nonsense(db):
    with pytest.raises(CommandError):
        call_command("app_link", "alice", "--minutes", "0")
