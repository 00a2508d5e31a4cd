"""/app's shell: one HTML page with a strict Content-Security-Policy, no inline code, no
data, every asset served by the hub itself (works offline on a LAN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

STATIC = Path(__file__).resolve().parents[2] / "webui" / "static" / "webui"


@pytest.fixture
def shell(client):
    response = client.get("/app")
    assert response.status_code == 200
    return response


def test_the_shell_carries_a_csp_that_allows_only_the_hub_itself(shell):
    csp = dict(part.strip().split(" ", 1) for part in shell["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "'unsafe-inline'" not in shell["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"


def test_a_public_url_on_another_origin_is_allowed_for_images(client, settings):
    settings.HUB_PUBLIC_URL = "https://hub.example.com"
    csp = client.get("/app/")["Content-Security-Policy"]
    assert "img-src 'self' blob: data: https://hub.example.com" in csp


def test_the_shell_has_no_inline_script_style_or_handler(shell):
    html = shell.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"


def test_every_asset_the_shell_names_is_served_by_the_hub(shell, client):
    html = shell.content.decode()
    urls = re.findall(r'(?:src|href)="(/static/[^"?]+)', html)
    assert len(urls) >= 4
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "an external asset"
    for url in urls:
        assert finders.find(url.removeprefix("/static/")), url


def test_the_scripts_load_nothing_from_elsewhere_and_use_no_eval():
    for path in STATIC.rglob("*.js"):
        text = path.read_text()
        assert not re.search(r"""import[^;]*from\s+["']https?:""", text), path
        assert "eval(" not in text and "new Function" not in text, path
        assert ".innerHTML" not in text, f"{path}: build nodes, do not parse HTML"


def test_the_key_never_goes_into_a_url():
    api = (STATIC / "js" / "api.js").read_text()
    assert "sessionStorage" in api and "Authorization: `Bearer ${auth.key}`" in api
    for path in STATIC.rglob("*.js"):
        assert "?key=" not in path.read_text() and "api_key=" not in path.read_text(), path


def test_only_get_and_head_are_answered(client):
    assert client.post("/app").status_code == 405
    assert client.head("/app").status_code == 200
