"""Presets: saving workflows, sharing them, copying and loading them into a session."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.errors import NotFound
from loras_app.models import Lora
from loras_app.search import reindex
from presets_app.models import Preset
from presets_app.services import get_preset_for_generation, record_preset_use

pytestmark = pytest.mark.django_db

WORKFLOW = {
    "name": "anime portrait",
    "description": "Soft light, one character LoRA.",
    "params": {"sampler_name": "DPM++ 2M Karras", "steps": 20, "width": 512, "height": 768},
    "loras": {"character_lora.safetensors": 0.8},
    "controlnet_units": [
        {"model": "control_openpose-fp16", "weight": 1.0, "preprocessor": "openpose_full"}
    ],
    "regional_config": {"layout": "two_columns"},
}


@pytest.fixture
def catalog_loras(db):
    for filename in ["character_lora.safetensors", "style_lora.safetensors"]:
        stem = filename.split(".")[0]
        Lora.objects.create(filename=filename, name=stem, prompt_name=stem)
    reindex()


def save(api, user_id: str, body: dict):
    return api.post(f"/presets/{user_id}", body, format="json")


def make(owner: str, name: str = "p", **fields) -> Preset:
    return Preset.objects.create(owner_id=owner, name=name, **fields)


# --- saving ---------------------------------------------------------------------------
def test_a_workflow_is_saved_checked_against_the_backend(api, backend, catalog_loras):
    response = save(api, "u1", WORKFLOW)
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["owner"] == "u1"
    assert body["visibility"] == "private"
    assert body["params"] == WORKFLOW["params"]
    assert body["controlnet_units"][0]["module"] == "openpose_full"
    assert body["warnings"] == []


def test_bad_params_are_refused_when_saved_not_when_a_job_runs(api, backend, catalog_loras):
    body = {**WORKFLOW, "params": {"steps": 0, "checkpoint": "nai.ckpt", "width": 500}}
    response = save(api, "u1", body)
    assert response.status_code == 400
    assert set(response.json()["fields"]["params"]) == {"steps", "checkpoint", "width"}
    assert not Preset.objects.exists()


def test_an_unknown_lora_is_refused_with_suggestions(api, catalog_loras):
    response = save(api, "u1", {"name": "x", "loras": {"character_lora": 1.0}})
    assert response.status_code == 400
    message = response.json()["fields"]["loras"]["character_lora"][0]
    assert "Did you mean: character_lora.safetensors" in message


def test_lora_weights_and_unit_fields_are_checked(api, catalog_loras):
    response = save(
        api,
        "u1",
        {"name": "x", "loras": {"style_lora.safetensors": 9}, "controlnet_units": [{"weight": 3}]},
    )
    assert response.status_code == 400
    assert "style_lora.safetensors" in response.json()["fields"]["loras"]
    response = save(api, "u1", {"name": "x", "controlnet_units": [{"weight": 3}]})
    assert "weight" in response.json()["fields"]["controlnet_units"][0]


def test_a_duplicate_name_is_a_409_whatever_its_case(api):
    assert save(api, "u1", {"name": "Night City"}).status_code == 201
    response = save(api, "u1", {"name": "night city"})
    assert response.status_code == 409
    assert response.json()["error"] == "preset_exists"
    assert "overwrite: true" in response.json()["detail"]
    assert save(api, "u2", {"name": "night city"}).status_code == 201


def test_overwrite_replaces_the_same_named_preset_keeping_its_id(api):
    first = save(api, "u1", {"name": "n", "params": {"steps": 20}, "description": "old"}).json()
    response = save(api, "u1", {"name": "n", "params": {"cfg_scale": 5}, "overwrite": True})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first["id"]
    assert body["params"] == {"cfg_scale": 5}
    assert body["description"] == ""


@override_settings(HUB_MAX_PRESETS_PER_USER=1)
def test_a_user_has_a_limited_number_of_presets(api):
    save(api, "u1", {"name": "one"})
    response = save(api, "u1", {"name": "two"})
    assert response.status_code == 409
    assert response.json()["error"] == "too_many_presets"


def test_a_preset_can_snapshot_the_session(api, backend, catalog_loras):
    api.post(
        "/sessions/u1/loras", {"filename": "style_lora.safetensors", "weight": 0.6}, format="json"
    )
    api.patch(
        "/sessions/u1/settings",
        {"preferred_sampler": "Euler a", "default_steps": 24},
        format="json",
    )
    api.put("/sessions/u1/controlnet", [{"module": "canny", "weight": 0.7}], format="json")
    response = save(api, "u1", {"name": "snap", "from_session": True, "params": {"cfg_scale": 4}})
    assert response.status_code == 201
    body = response.json()
    assert body["loras"] == {"style_lora.safetensors": 0.6}
    assert body["controlnet_units"] == [{"module": "canny", "weight": 0.7}]
    assert body["params"] == {"cfg_scale": 4}  # sent explicitly: wins over the session's


def test_a_snapshot_takes_the_sessions_settings_as_request_fields(api):
    api.patch("/sessions/u1/settings", {"default_steps": 24, "width": 640}, format="json")
    body = save(api, "u1", {"name": "snap", "from_session": True}).json()
    assert body["params"] == {"steps": 24, "width": 640}


# --- reading, changing, deleting ------------------------------------------------------
def test_a_user_lists_only_their_own_presets(api, django_assert_num_queries):
    make("u1", "b")
    make("u1", "a", loras={"gone.safetensors": 1.0})
    make("u2", "c", visibility="public")
    api.get("/presets/u1")  # the key is looked up once, then cached for a few seconds
    with django_assert_num_queries(2):  # presets, their LoRAs
        body = api.get("/presets/u1").json()
    assert body["user_id"] == "u1"
    assert body["count"] == 2
    assert [p["name"] for p in body["presets"]] == ["a", "b"]


def test_a_preset_naming_a_lora_no_longer_in_the_catalog_loads_with_a_warning(api, catalog_loras):
    Lora.objects.filter(filename="style_lora.safetensors").update(enabled=False)
    preset = make("u1", loras={"gone.safetensors": 1.0, "style_lora.safetensors": 0.5})
    body = api.get(f"/presets/u1/{preset.pk}").json()
    assert body["warnings"] == [
        "LoRA 'gone.safetensors' is not in the LoRA catalog; it is skipped.",
        "LoRA 'style_lora.safetensors' is disabled in the catalog; it is skipped.",
    ]


def test_patch_changes_only_the_fields_sent(api):
    preset = make("u1", "old", params={"steps": 20}, description="d")
    response = api.patch(
        f"/presets/u1/{preset.pk}", {"name": "new", "params": {"steps": 30}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "new"
    assert response.json()["params"] == {"steps": 30}
    assert response.json()["description"] == "d"


def test_patch_refuses_bad_params_and_a_taken_name(api):
    make("u1", "taken")
    preset = make("u1", "mine")
    assert (
        api.patch(
            f"/presets/u1/{preset.pk}", {"params": {"cfg_scale": 99}}, format="json"
        ).status_code
        == 400
    )
    assert (
        api.patch(f"/presets/u1/{preset.pk}", {"name": "TAKEN"}, format="json").status_code == 409
    )
    assert api.patch(f"/presets/u1/{preset.pk}", {"name": "Mine"}, format="json").status_code == 200


def test_only_the_owner_changes_or_deletes_a_preset(api):
    preset = make("u1", visibility="public")
    assert api.patch(f"/presets/u2/{preset.pk}", {"name": "x"}, format="json").status_code == 404
    assert api.delete(f"/presets/u2/{preset.pk}").status_code == 404
    assert api.delete(f"/presets/u1/{preset.pk}").status_code == 204
    assert api.delete(f"/presets/u1/{preset.pk}").status_code == 404


# --- visibility and sharing -----------------------------------------------------------
def test_a_private_preset_is_invisible_to_other_users(api):
    preset = make("u1")
    response = api.get(f"/presets/u2/{preset.pk}")
    assert response.status_code == 404
    assert response.json()["error"] == "preset_not_found"
    assert api.get("/presets?public=true").json()["count"] == 0


def test_a_public_preset_is_visible_to_anyone_without_its_owners_secrets(api):
    preset = make("u1", visibility="public")
    body = api.get(f"/presets/u2/{preset.pk}").json()
    assert body["owner"] == "u1"
    assert body["share_code"] is None


def test_sharing_by_code_makes_an_unguessable_code_only_the_owner_sees(api):
    preset = make("u1")
    body = api.patch(f"/presets/u1/{preset.pk}", {"visibility": "code"}, format="json").json()
    code = body["share_code"]
    assert len(code) >= 12 and not code.isdigit()
    assert api.get(f"/presets/u2/{preset.pk}").status_code == 404
    shared = api.get(f"/presets/u2/{preset.pk}?share_code={code}").json()
    assert shared["id"] == preset.pk and shared["share_code"] is None
    assert api.get(f"/presets?share_code={code}").json()["results"][0]["id"] == preset.pk
    assert api.get("/presets?public=true").json()["count"] == 0


def test_going_private_revokes_the_share_code(api):
    preset = make("u1", visibility="code")
    code = preset.share_code
    api.patch(f"/presets/u1/{preset.pk}", {"visibility": "private"}, format="json")
    assert api.get(f"/presets/u2/{preset.pk}?share_code={code}").status_code == 404
    assert api.get(f"/presets?share_code={code}").json()["count"] == 0


def test_public_presets_are_searched_and_ranked_by_use(api, django_assert_num_queries):
    make("u1", "Cyberpunk city", visibility="public", usage_count=3)
    make(
        "u2",
        "Neon nights",
        description="cyberpunk alleys",
        visibility="public",
        usage_count=9,
        loras={"gone.safetensors": 1.0},
    )
    make("u3", "Cyberpunk secret")
    make("u4", "Forest", visibility="public", loras={"gone.safetensors": 1.0})
    api.get("/presets")  # the key is looked up once, then cached for a few seconds
    with django_assert_num_queries(3):  # count, page, its LoRAs (the key is cached)
        body = api.get("/presets?public=true&search=cyberpunk").json()
    assert body["count"] == 2
    assert [p["name"] for p in body["results"]] == ["Neon nights", "Cyberpunk city"]
    page = api.get("/presets?limit=1&offset=1").json()
    assert page["count"] == 3 and [p["name"] for p in page["results"]] == ["Cyberpunk city"]


def test_browsing_non_public_presets_is_refused(api):
    response = api.get("/presets?public=false")
    assert response.status_code == 400
    assert "public" in response.json()["fields"]


# --- copy -----------------------------------------------------------------------------
def test_a_public_preset_is_copied_as_a_private_one_and_counted(api):
    source = make("u1", "Glow", visibility="public", params={"steps": 30})
    response = api.post("/presets/u2/copy", {"preset_id": source.pk}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["owner"] == "u2" and body["name"] == "Glow"
    assert body["visibility"] == "private" and body["params"] == {"steps": 30}
    assert body["copied_from"] == source.pk
    source.refresh_from_db()
    assert source.usage_count == 1


def test_a_copy_gets_a_free_name_unless_one_is_given(api):
    source = make("u1", "Glow", visibility="public")
    make("u2", "Glow")
    assert api.post("/presets/u2/copy", {"preset_id": source.pk}, format="json").json()["name"] == (
        "Glow (copy)"
    )
    assert api.post("/presets/u2/copy", {"preset_id": source.pk}, format="json").json()["name"] == (
        "Glow (copy 2)"
    )
    taken = api.post("/presets/u2/copy", {"preset_id": source.pk, "name": "glow"}, format="json")
    assert taken.status_code == 409


def test_a_code_shared_preset_is_copied_with_its_code_only(api):
    source = make("u1", "Secret", visibility="code")
    assert api.post("/presets/u2/copy", {"preset_id": source.pk}, format="json").status_code == 404
    response = api.post("/presets/u2/copy", {"share_code": source.share_code}, format="json")
    assert response.status_code == 201
    assert api.post("/presets/u2/copy", {"share_code": "nope"}, format="json").status_code == 404


def test_a_private_preset_cannot_be_copied_by_another_user(api):
    source = make("u1")
    assert api.post("/presets/u2/copy", {"preset_id": source.pk}, format="json").status_code == 404


def test_copy_needs_exactly_one_of_id_or_code(api):
    assert api.post("/presets/u2/copy", {}, format="json").status_code == 400
    both = {"preset_id": 1, "share_code": "x"}
    assert api.post("/presets/u2/copy", both, format="json").status_code == 400


# --- apply ----------------------------------------------------------------------------
def test_applying_loads_the_workflow_into_the_session(api, catalog_loras):
    api.post(
        "/sessions/u1/loras", {"filename": "style_lora.safetensors", "weight": 0.3}, format="json"
    )
    api.patch(
        "/sessions/u1/settings", {"preferred_sampler": "Euler", "default_cfg": 5}, format="json"
    )
    preset = make(
        "u1",
        loras={"character_lora.safetensors": 0.8, "gone.safetensors": 1.0},
        controlnet_units=[{"weight": 0.5}],
        params={"sampler_name": "DPM++ 2M", "steps": 25},
        regional_config={"layout": "two_columns"},
    )
    response = api.post(f"/presets/u1/{preset.pk}/apply", format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["session"]["active_loras"] == {"character_lora.safetensors": 0.8}
    assert body["session"]["controlnet_configs"] == [{"weight": 0.5}]
    assert body["session"]["custom_settings"] == {
        "default_cfg": 5,
        "sampler_name": "DPM++ 2M",
        "steps": 25,
    }
    assert "gone.safetensors" in body["warnings"][0]
    assert "regional_config" in body["warnings"][1]
    preset.refresh_from_db()
    assert preset.usage_count == 1


def test_another_users_preset_applies_if_public_or_with_its_code(api):
    public = make("u1", "pub", visibility="public", params={"steps": 12})
    coded = make("u1", "coded", visibility="code", params={"steps": 13})
    private = make("u1", "priv")
    assert api.post(f"/presets/u2/{public.pk}/apply", format="json").status_code == 200
    assert api.post(f"/presets/u2/{coded.pk}/apply", format="json").status_code == 404
    with_code = api.post(
        f"/presets/u2/{coded.pk}/apply", {"share_code": coded.share_code}, format="json"
    )
    assert with_code.json()["session"]["custom_settings"] == {"steps": 13}
    assert api.post(f"/presets/u2/{private.pk}/apply", format="json").status_code == 404


# --- for the generation code ----------------------------------------------------------
def test_generation_gets_own_public_or_code_shared_presets_only():
    own, public = make("u1", "own"), make("u2", "pub", visibility="public")
    coded = make("u2", "coded", visibility="code")
    assert get_preset_for_generation("u1", own.pk) == own
    assert get_preset_for_generation("u1", str(public.pk)) == public
    assert get_preset_for_generation("u1", coded.share_code) == coded
    with pytest.raises(NotFound):
        get_preset_for_generation("u1", coded.pk)
    with pytest.raises(NotFound):
        get_preset_for_generation("u2", own.pk)
    assert not Preset.objects.filter(usage_count__gt=0).exists()


def test_a_generation_counts_a_use_by_id_or_share_code():
    coded = make("u2", "coded", visibility="code")
    record_preset_use(coded.pk)
    record_preset_use(coded.share_code)
    coded.refresh_from_db()
    assert coded.usage_count == 2


# --- keys -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/presets/bob"),
        ("post", "/presets/bob"),
        ("get", "/presets/bob/1"),
        ("patch", "/presets/bob/1"),
        ("delete", "/presets/bob/1"),
        ("post", "/presets/bob/1/apply"),
        ("post", "/presets/bob/copy"),
    ],
)
def test_a_user_key_cannot_act_for_another_user(user_api, method, path):
    response = getattr(user_api("alice"), method)(path, {"name": "x"}, format="json")
    assert response.status_code == 403


def test_a_user_key_browses_public_presets_and_manages_its_own(user_api):
    make("bob", "shared", visibility="public")
    alice = user_api("alice")
    assert alice.get("/presets?public=true").json()["count"] == 1
    assert save(alice, "alice", {"name": "mine"}).status_code == 201
    assert alice.get("/presets/alice").json()["count"] == 1


@pytest.mark.parametrize(
    "path", ["/presets?share_code=", "/presets?public=1", "/presets/u1/1?share_code="]
)
def test_a_blank_share_code_or_a_boolean_not_true_or_false_is_a_400(api, db, path):
    response = api.get(path)
    assert response.status_code == 400
    assert set(response.json()["fields"]) <= {"share_code", "public"}
