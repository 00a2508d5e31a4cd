"""The brief's session endpoints: LoRA stack, ControlNet configs, custom settings."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from loras_app.models import Lora
from loras_app.search import reindex
from sessions_app.models import SessionLora, UserSession

pytestmark = pytest.mark.django_db

LORAS = [
    "character_lora.safetensors",
    "style_lora.safetensors",
    "detail_tweaker.safetensors",
    "anime_lineart.safetensors",
]


@pytest.fixture
def catalog_loras(db) -> list[Lora]:
    rows = [
        Lora.objects.create(filename=f, name=f.split(".")[0], prompt_name=f.split(".")[0])
        for f in LORAS
    ]
    reindex()
    return rows


def add(api, user_id: str, filename: str, weight: float | None = 0.8):
    body = {"filename": filename} if weight is None else {"filename": filename, "weight": weight}
    return api.post(f"/sessions/{user_id}/loras", body, format="json")


# --- reading --------------------------------------------------------------------------
def test_a_user_without_a_session_gets_an_empty_one(api):
    response = api.get("/sessions/discord:1234")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": "discord:1234",
        "active_loras": {},
        "controlnet_configs": [],
        "custom_settings": {},
        "last_updated": None,
    }
    assert not UserSession.objects.exists()


def test_the_session_has_exactly_the_briefs_shape(api, catalog_loras, django_assert_num_queries):
    add(api, "user123", "character_lora.safetensors", 0.8)
    add(api, "user123", "style_lora.safetensors", 0.6)
    api.patch(
        "/sessions/user123/settings",
        {"preferred_sampler": "DPM++ 2M Karras", "default_steps": 20},
        format="json",
    )
    with django_assert_num_queries(2):  # session, its LoRAs (the key is cached)
        body = api.get("/sessions/user123").json()
    assert list(body) == [
        "user_id",
        "active_loras",
        "controlnet_configs",
        "custom_settings",
        "last_updated",
    ]
    assert body["active_loras"] == {
        "character_lora.safetensors": 0.8,
        "style_lora.safetensors": 0.6,
    }
    assert body["custom_settings"] == {"preferred_sampler": "DPM++ 2M Karras", "default_steps": 20}
    assert body["last_updated"].endswith("Z")


# --- LoRAs ----------------------------------------------------------------------------
def test_adding_a_lora_twice_changes_its_weight_and_keeps_its_place(api, catalog_loras):
    add(api, "u1", "character_lora.safetensors", 0.8)
    add(api, "u1", "style_lora.safetensors", 0.6)
    response = add(api, "u1", "character_lora.safetensors", -1.5)
    assert response.status_code == 200
    assert list(response.json()["active_loras"].items()) == [
        ("character_lora.safetensors", -1.5),
        ("style_lora.safetensors", 0.6),
    ]
    assert SessionLora.objects.count() == 2


def test_without_a_weight_the_catalogs_preferred_weight_is_used(api, catalog_loras):
    Lora.objects.filter(filename="style_lora.safetensors").update(preferred_weight=0.65)
    response = add(api, "u1", "style_lora.safetensors", weight=None)
    assert response.json()["active_loras"] == {"style_lora.safetensors": 0.65}


def test_an_unknown_lora_is_a_404_with_the_closest_filenames(api, catalog_loras):
    response = add(api, "u1", "character_lora")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "lora_not_found"
    assert body["suggestions"][0] == "character_lora.safetensors"
    assert "Did you mean: character_lora.safetensors" in body["detail"]


@pytest.mark.parametrize(("field", "why"), [("enabled", "disabled"), ("missing", "missing")])
def test_a_disabled_or_missing_lora_cannot_be_added(api, catalog_loras, field, why):
    Lora.objects.filter(filename="style_lora.safetensors").update(**{field: field == "missing"})
    response = add(api, "u1", "style_lora.safetensors")
    assert response.status_code == 404
    assert why in response.json()["detail"]


@pytest.mark.parametrize("weight", [5.5, -5.01, "heavy"])
def test_a_weight_outside_the_range_is_refused(api, catalog_loras, weight):
    response = add(api, "u1", "style_lora.safetensors", weight)
    assert response.status_code == 400
    assert "weight" in response.json()["fields"]


def test_a_missing_filename_is_refused(api):
    response = api.post("/sessions/u1/loras", {"weight": 1}, format="json")
    assert response.status_code == 400
    assert "filename" in response.json()["fields"]


@override_settings(HUB_MAX_ACTIVE_LORAS=2)
def test_more_active_loras_than_the_limit_is_a_409_saying_what_to_do(api, catalog_loras):
    add(api, "u1", LORAS[0])
    add(api, "u1", LORAS[1])
    response = add(api, "u1", LORAS[2])
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "too_many_loras"
    assert body["active_loras"] == LORAS[:2]
    assert "DELETE /sessions/u1/loras/" in body["detail"]
    assert add(api, "u1", LORAS[1], 1.2).status_code == 200  # re-weighting is still fine


def test_removing_one_lora_keeps_the_others(api, catalog_loras):
    add(api, "u1", LORAS[0])
    add(api, "u1", LORAS[1])
    response = api.delete(f"/sessions/u1/loras/{LORAS[0]}")
    assert response.status_code == 200
    assert response.json()["active_loras"] == {LORAS[1]: 0.8}


def test_removing_a_lora_that_is_not_active_is_a_404_listing_the_active_ones(api, catalog_loras):
    add(api, "u1", LORAS[0])
    response = api.delete(f"/sessions/u1/loras/{LORAS[1]}")
    assert response.status_code == 404
    assert response.json()["active_loras"] == [LORAS[0]]
    assert api.delete(f"/sessions/nobody/loras/{LORAS[1]}").status_code == 404


def test_clearing_removes_every_lora_and_nothing_else(api, catalog_loras):
    add(api, "u1", LORAS[0])
    api.patch("/sessions/u1/settings", {"default_steps": 30}, format="json")
    response = api.delete("/sessions/u1/loras")
    assert response.status_code == 200
    assert response.json()["active_loras"] == {}
    assert response.json()["custom_settings"] == {"default_steps": 30}
    assert api.delete("/sessions/nobody/loras").json()["active_loras"] == {}


def test_a_filename_with_a_folder_can_be_removed(api, db):
    Lora.objects.create(filename="styles/ink.safetensors", name="ink", prompt_name="ink")
    add(api, "u1", "styles/ink.safetensors")
    response = api.delete("/sessions/u1/loras/styles/ink.safetensors")
    assert response.status_code == 200
    assert response.json()["active_loras"] == {}


def test_resetting_forgets_the_whole_session(api, catalog_loras):
    add(api, "u1", LORAS[0])
    assert api.delete("/sessions/u1").status_code == 204
    assert api.get("/sessions/u1").json()["active_loras"] == {}
    assert not SessionLora.objects.exists()


# --- ControlNet configs ---------------------------------------------------------------
BRIEF_UNIT = {"model": "control_openpose-fp16", "weight": 1.0, "preprocessor": "openpose_full"}


def test_controlnet_configs_are_checked_against_the_backend_and_stored(api, backend):
    response = api.put(
        "/sessions/u1/controlnet", {"controlnet_configs": [BRIEF_UNIT]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["controlnet_configs"] == [{**BRIEF_UNIT, "module": "openpose_full"}]


def test_a_bare_list_of_units_is_accepted_and_integer_modes_become_names(api, backend):
    unit = {"model": "control_v11p_sd15_canny", "module": "canny", "resize_mode": 2}
    response = api.put("/sessions/u1/controlnet", [unit], format="json")
    assert response.status_code == 200
    assert response.json()["controlnet_configs"][0]["resize_mode"] == "Resize and Fill"


def test_a_unit_with_an_unknown_model_is_refused_listing_the_backends_models(api, backend):
    unit = {**BRIEF_UNIT, "model": "control_teleport"}
    response = api.put("/sessions/u1/controlnet", {"controlnet_configs": [unit]}, format="json")
    assert response.status_code == 400
    message = response.json()["fields"]["controlnet_configs"][0]["model"][0]
    assert "control_openpose-fp16 [9ca67cc5]" in message
    assert api.get("/sessions/u1").json()["controlnet_configs"] == []


def test_more_units_than_the_backend_uses_are_refused(api, backend):
    units = [BRIEF_UNIT] * 4  # the simulator's control_net_unit_count is 3
    response = api.put("/sessions/u1/controlnet", {"controlnet_configs": units}, format="json")
    assert response.status_code == 400
    assert "at most 3" in response.json()["detail"]


def test_controlnet_configs_can_be_replaced_and_cleared(api, backend):
    api.put("/sessions/u1/controlnet", [BRIEF_UNIT, BRIEF_UNIT], format="json")
    replaced = api.put("/sessions/u1/controlnet", [{"weight": 0.5}], format="json").json()
    assert replaced["controlnet_configs"] == [{"weight": 0.5}]
    response = api.delete("/sessions/u1/controlnet")
    assert response.status_code == 200
    assert response.json()["controlnet_configs"] == []


# --- custom settings ------------------------------------------------------------------
def test_settings_are_checked_against_the_backend(api, backend):
    response = api.patch(
        "/sessions/u1/settings",
        {"preferred_sampler": "DPM++ 2M Karras", "preferred_checkpoint": "animefull_final"},
        format="json",
    )
    assert response.status_code == 200
    bad = api.patch("/sessions/u1/settings", {"preferred_sampler": "Euler Z"}, format="json")
    assert bad.status_code == 400
    assert "Valid: " in bad.json()["fields"]["preferred_sampler"][0]
    assert api.get("/sessions/u1").json()["custom_settings"]["preferred_sampler"] == (
        "DPM++ 2M Karras"
    )


def test_a_bad_default_is_refused_when_it_is_set(api):
    response = api.patch(
        "/sessions/u1/settings", {"default_steps": 500, "default_width": 500}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"default_steps", "default_width"}
    assert not UserSession.objects.exists()


def test_settings_are_merged_and_null_removes_one(api):
    api.patch("/sessions/u1/settings", {"default_steps": 20, "cfg_scale": 6}, format="json")
    response = api.patch(
        "/sessions/u1/settings", {"default_steps": None, "width": 768}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["custom_settings"] == {"cfg_scale": 6, "width": 768}


def test_a_new_name_for_a_setting_replaces_the_old_one(api):
    api.patch("/sessions/u1/settings", {"default_steps": 20}, format="json")
    response = api.patch("/sessions/u1/settings", {"steps": 25}, format="json")
    assert response.json()["custom_settings"] == {"steps": 25}


def test_settings_may_be_wrapped_in_custom_settings(api):
    response = api.patch(
        "/sessions/u1/settings", {"custom_settings": {"default_cfg": 5.5}}, format="json"
    )
    assert response.json()["custom_settings"] == {"default_cfg": 5.5}


def test_the_merged_settings_must_still_be_valid_together(api):
    api.patch("/sessions/u1/settings", {"batch_size": 4}, format="json")
    response = api.patch("/sessions/u1/settings", {"batch_count": 8}, format="json")
    assert response.status_code == 400
    assert "32" in response.json()["fields"]["batch_size"][0]


@pytest.mark.parametrize("body", [{"favourite_colour": "blue"}, {"favourite_colour": None}])
def test_unknown_settings_are_refused(api, body):
    response = api.patch("/sessions/u1/settings", body, format="json")
    assert response.status_code == 400
    assert "favourite_colour" in response.json()["fields"]


# --- keys -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/sessions/bob", None),
        ("delete", "/sessions/bob", None),
        ("post", "/sessions/bob/loras", {"filename": LORAS[0], "weight": 1}),
        ("delete", "/sessions/bob/loras", None),
        ("delete", f"/sessions/bob/loras/{LORAS[0]}", None),
        ("put", "/sessions/bob/controlnet", {"controlnet_configs": []}),
        ("delete", "/sessions/bob/controlnet", None),
        ("patch", "/sessions/bob/settings", {"default_steps": 20}),
    ],
)
def test_a_user_key_cannot_touch_another_users_session(user_api, catalog_loras, method, path, body):
    response = getattr(user_api("alice"), method)(path, body, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_user_key_works_on_its_own_session(user_api, catalog_loras):
    alice = user_api("alice")
    assert add(alice, "alice", LORAS[0]).status_code == 200
    assert alice.get("/sessions/alice").json()["active_loras"] == {LORAS[0]: 0.8}


def test_a_request_without_a_key_is_refused(client):
    assert client.get("/sessions/alice").status_code == 401


def test_every_session_and_preset_endpoint_is_in_the_openapi_document(client):
    response = client.get("/openapi.json", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(response.content)["paths"]
    operations = {op["operationId"] for path in paths.values() for op in path.values()}
    assert {
        "session_get",
        "session_reset",
        "session_lora_add",
        "session_loras_clear",
        "session_lora_remove",
        "session_controlnet_set",
        "session_controlnet_clear",
        "session_settings_update",
        "presets_browse",
        "presets_list",
        "preset_create",
        "preset_get",
        "preset_update",
        "preset_delete",
        "preset_apply",
        "preset_copy",
    } <= operations
