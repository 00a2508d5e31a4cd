"""The admin: sessions and presets found by user, presets edited under the API's rules."""

from __future__ import annotations

import json

import pytest

from presets_app.models import Preset
from sessions_app.models import UserSession

pytestmark = pytest.mark.django_db


def test_sessions_are_searchable_by_user(admin_client):
    UserSession.objects.create(user_id="discord:1234")
    UserSession.objects.create(user_id="ios:abcd")
    response = admin_client.get("/admin/sessions_app/usersession/?q=discord")
    assert response.status_code == 200
    assert b"discord:1234" in response.content
    assert b"ios:abcd" not in response.content


def test_presets_are_searchable_by_user(admin_client):
    Preset.objects.create(owner_id="discord:1234", name="Night")
    Preset.objects.create(owner_id="ios:abcd", name="Day")
    response = admin_client.get("/admin/presets_app/preset/?q=discord")
    assert b"Night" in response.content
    assert b"Day" not in response.content


def _form(preset: Preset, **changes) -> dict:
    data = {
        "owner_id": preset.owner_id,
        "name": preset.name,
        "description": "",
        "visibility": "private",
        "params": "{}",
        "loras": "{}",
        "controlnet_units": "[]",
        "regional_config": "{}",
    }
    return {**data, **changes}


def test_an_admin_edit_meets_the_same_rules_as_the_api(admin_client):
    preset = Preset.objects.create(owner_id="u1", name="p")
    url = f"/admin/presets_app/preset/{preset.pk}/change/"
    bad = admin_client.post(url, _form(preset, params=json.dumps({"steps": 0})))
    assert bad.status_code == 200  # the form again, with the error
    assert b"steps: Ensure this value is greater than or equal to 1." in bad.content
    good = admin_client.post(url, _form(preset, params=json.dumps({"steps": 30})))
    assert good.status_code == 302
    preset.refresh_from_db()
    assert preset.params == {"steps": 30}
