"""The shared generation-parameter rules: ranges, names matched as A1111 matches them,
session custom_settings and ControlNet units."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from core.errors import Conflict
from genparams.controlnet import validate_controlnet_unit, validate_controlnet_units
from genparams.names import load_catalog, split_sampler_name
from genparams.params import GenerationParamsSerializer, validate_generation_params
from sessions_app.custom_settings import custom_settings_to_params, validate_custom_settings

# The shapes models_catalog() returns (backends.catalog), with A1111 v1.10's names.
CATALOG = {
    "checkpoints": [
        {
            "title": "animefull_final.safetensors [0123456789]",
            "name": "animefull_final",
            "hash": "0123456789",
            "filename": "/sd/models/Stable-diffusion/animefull_final.safetensors",
        },
        {
            "title": "SDXL/ponyDiffusionV6XL.safetensors [abcdef0123]",
            "name": "SDXL_ponyDiffusionV6XL",
            "hash": "abcdef0123",
            "filename": "/sd/models/Stable-diffusion/SDXL/ponyDiffusionV6XL.safetensors",
        },
    ],
    "vaes": [{"name": "vae-ft-mse-840000-ema-pruned.safetensors", "filename": "/sd/vae.st"}],
    "samplers": [
        {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"]},
        {"name": "Euler a", "aliases": ["k_euler_a"]},
        {"name": "Euler", "aliases": ["k_euler"]},
    ],
    "schedulers": [
        {"name": "automatic", "label": "Automatic", "aliases": []},
        {"name": "karras", "label": "Karras", "aliases": []},
        {"name": "sgm_uniform", "label": "SGM Uniform", "aliases": ["SGMUniform"]},
    ],
    "upscalers": [{"name": "4x-UltraSharp", "scale": 4}, {"name": "Latent", "scale": None}],
    "controlnet": {
        "models": ["control_openpose-fp16 [9ca67cc5]", "control_v11p_sd15_canny [d14c016b]"],
        "modules": ["none", "canny", "openpose_full"],
        "module_detail": {},
        "unit_count": 3,
    },
}

BRIEF_REQUEST = {
    "prompt": "masterpiece, detailed anime portrait",
    "negative_prompt": "low quality, blurry",
    "checkpoint": "animefull_final.safetensors",
    "vae": "vae-ft-mse-840000-ema-pruned.safetensors",
    "sampler_name": "DPM++ 2M Karras",
    "steps": 20,
    "cfg_scale": 7.0,
    "width": 512,
    "height": 768,
    "batch_count": 1,
    "batch_size": 1,
    "seed": -1,
    "enable_hr": True,
    "hr_scale": 2.0,
    "hr_upscaler": "4x-UltraSharp",
}


def errors_of(data: dict, catalog: dict | None = CATALOG) -> dict:
    with pytest.raises(ValidationError) as caught:
        validate_generation_params(data, catalog=catalog)
    return caught.value.detail


# --- types and ranges -----------------------------------------------------------------
def test_the_briefs_request_is_valid_and_comes_back_as_sent():
    assert validate_generation_params(BRIEF_REQUEST, catalog=CATALOG) == BRIEF_REQUEST


def test_a_partial_dict_stays_partial():
    assert validate_generation_params({"steps": "30"}, catalog=CATALOG) == {"steps": 30}


def test_a_multipart_form_does_not_inject_false_booleans():
    form = QueryDict("steps=20&tiling=true")
    serializer = GenerationParamsSerializer(data=form, context={"catalog": CATALOG})
    assert serializer.is_valid(), serializer.errors
    assert dict(serializer.validated_data) == {"steps": 20, "tiling": True}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"width": 513}, "width"),
        ({"width": 56}, "width"),
        ({"height": 2056}, "height"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"cfg_scale": 0.5}, "cfg_scale"),
        ({"cfg_scale": 31}, "cfg_scale"),
        ({"hr_scale": 4.5}, "hr_scale"),
        ({"seed": -2}, "seed"),
        ({"subseed_strength": 1.5}, "subseed_strength"),
        ({"denoising_strength": -0.1}, "denoising_strength"),
        ({"clip_skip": 13}, "clip_skip"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"batch_size": 4, "batch_count": 5}, "batch_size"),
        ({"steps": "many"}, "steps"),
        ({"enable_hr": "perhaps"}, "enable_hr"),
        ({"styles": "not a list"}, "styles"),
    ],
)
def test_it_refuses_values_out_of_range(data, field):
    assert field in errors_of(data)


def test_a_size_that_is_not_a_multiple_of_8_gets_the_nearest_ones_suggested():
    assert "try 512 or 520" in str(errors_of({"width": 513})["width"][0])


def test_sixteen_images_are_allowed_but_not_more():
    assert validate_generation_params({"batch_size": 4, "batch_count": 4}, catalog={})
    message = str(errors_of({"batch_size": 2, "batch_count": 9})["batch_size"][0])
    assert message == "batch_size x batch_count is 18; at most 16 images per request."


def test_it_refuses_unknown_fields_naming_the_known_ones():
    errors = errors_of({"stepz": 20})
    assert "steps" in str(errors["stepz"][0])


# --- names ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M karras", "Euler a SGMUniform"]
)
def test_samplers_are_matched_by_name_with_an_optional_scheduler_suffix(name):
    assert validate_generation_params({"sampler_name": name}, catalog=CATALOG)


@pytest.mark.parametrize("name", ["dpm++ 2m", "k_dpmpp_2m", "DPM++ 2M KARRAS", "DPM++ 3M"])
def test_samplers_are_matched_case_sensitively_and_not_by_alias(name):
    message = str(errors_of({"sampler_name": name})["sampler_name"][0])
    assert message.startswith(f"Unknown sampler {name!r}. Valid: DPM++ 2M, Euler a, Euler")


def test_a_legacy_name_splits_into_sampler_and_scheduler_label():
    assert split_sampler_name("DPM++ 2M Karras", CATALOG["schedulers"]) == ("DPM++ 2M", "Karras")
    assert split_sampler_name("Euler a", CATALOG["schedulers"]) == ("Euler a", None)


def test_schedulers_are_matched_by_name_or_label():
    assert validate_generation_params({"scheduler": "karras"}, catalog=CATALOG)
    assert validate_generation_params({"scheduler": "SGM Uniform"}, catalog=CATALOG)
    assert "Valid: Automatic, Karras, SGM Uniform" in str(
        errors_of({"scheduler": "KARRAS"})["scheduler"][0]
    )


@pytest.mark.parametrize(
    "alias",
    [
        "animefull_final.safetensors [0123456789]",
        "animefull_final.safetensors",
        "animefull_final",
        "0123456789",
        "animefull_final [0123456789]",
        "SDXL/ponyDiffusionV6XL.safetensors",
        "SDXL_ponyDiffusionV6XL",
        "ponyDiffusionV6XL",
    ],
)
def test_checkpoints_are_matched_by_any_of_a1111s_aliases(alias):
    assert validate_generation_params({"checkpoint": alias}, catalog=CATALOG)


def test_an_unknown_checkpoint_is_refused_listing_the_titles():
    message = str(errors_of({"checkpoint": "Animefull_Final.safetensors"})["checkpoint"][0])
    assert "animefull_final.safetensors [0123456789]" in message
    assert "SDXL/ponyDiffusionV6XL.safetensors [abcdef0123]" in message


@pytest.mark.parametrize("vae", ["Automatic", "None", "vae-ft-mse-840000-ema-pruned.safetensors"])
def test_a_vae_is_a_file_name_or_automatic_or_none(vae):
    assert validate_generation_params({"vae": vae}, catalog=CATALOG)


def test_an_unknown_vae_or_upscaler_is_refused_listing_the_valid_ones():
    errors = errors_of({"vae": "vae.pt", "hr_upscaler": "ESRGAN_9x"})
    assert "Valid: Automatic, None, vae-ft-mse-840000-ema-pruned.safetensors" in str(
        errors["vae"][0]
    )
    assert "Valid: 4x-UltraSharp, Latent" in str(errors["hr_upscaler"][0])


def test_a_catalog_without_a_list_skips_that_check():
    assert validate_generation_params({"checkpoint": "anything"}, catalog={})


def test_names_are_not_checked_when_no_backend_answers(db, unused_port):
    from backends.models import Backend

    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    assert load_catalog() is None
    assert validate_generation_params({"sampler_name": "No Such Sampler"}) == {
        "sampler_name": "No Such Sampler"
    }


def test_the_briefs_request_is_valid_against_the_simulator(backend):
    assert validate_generation_params(BRIEF_REQUEST) == BRIEF_REQUEST


def test_an_unknown_checkpoint_is_refused_with_the_simulators_list(backend):
    errors = errors_of({"checkpoint": "nai.ckpt", "sampler_name": "DPM++ 2M Karras"}, catalog=None)
    assert list(errors) == ["checkpoint"]
    assert "animefull_final.safetensors [" in str(errors["checkpoint"][0])


# --- custom_settings ------------------------------------------------------------------
def test_custom_settings_keep_the_briefs_names_and_map_them_to_request_fields():
    given = {"preferred_sampler": "DPM++ 2M Karras", "default_steps": "20", "cfg_scale": 6}
    cleaned = validate_custom_settings(given, catalog=CATALOG)
    assert cleaned == {"preferred_sampler": "DPM++ 2M Karras", "default_steps": 20, "cfg_scale": 6}
    assert custom_settings_to_params(cleaned) == {
        "sampler_name": "DPM++ 2M Karras",
        "steps": 20,
        "cfg_scale": 6,
    }


def test_custom_settings_errors_name_the_key_the_user_sent():
    with pytest.raises(ValidationError) as caught:
        validate_custom_settings({"preferred_sampler": "Nope", "default_steps": 0}, catalog=CATALOG)
    assert set(caught.value.detail) == {"preferred_sampler", "default_steps"}


def test_custom_settings_refuse_two_keys_for_one_field_and_unknown_keys():
    with pytest.raises(ValidationError) as caught:
        validate_custom_settings({"default_steps": 20, "steps": 30}, catalog=CATALOG)
    assert "steps" in caught.value.detail
    with pytest.raises(ValidationError) as caught:
        validate_custom_settings({"favourite_colour": "blue"}, catalog=CATALOG)
    assert "favourite_colour" in caught.value.detail


# --- ControlNet units -----------------------------------------------------------------
def unit_errors(unit: dict, catalog: dict = CATALOG) -> dict:
    with pytest.raises(ValidationError) as caught:
        validate_controlnet_unit(unit, catalog=catalog)
    return caught.value.detail


def test_the_briefs_unit_keeps_preprocessor_and_gains_module():
    unit = {"model": "control_openpose-fp16", "weight": 1.0, "preprocessor": "openpose_full"}
    assert validate_controlnet_unit(unit, catalog=CATALOG) == {**unit, "module": "openpose_full"}


@pytest.mark.parametrize(
    "model", ["control_openpose-fp16 [9ca67cc5]", "CONTROL_OPENPOSE-FP16", "openpose", "None"]
)
def test_models_are_matched_as_the_extension_matches_them(model):
    assert validate_controlnet_unit({"model": model}, catalog=CATALOG)["model"] == model


def test_an_unknown_model_or_module_is_refused_listing_the_valid_ones():
    errors = unit_errors({"model": "control_depth", "preprocessor": "depth_leres"})
    assert "Valid: None, control_openpose-fp16 [9ca67cc5], control_v11p" in str(errors["model"][0])
    assert "Valid: none, canny, openpose_full" in str(errors["preprocessor"][0])


def test_a_module_is_normalised_to_its_listed_name():
    assert validate_controlnet_unit({"module": "Canny"}, catalog=CATALOG)["module"] == "canny"


def test_integer_modes_become_the_extensions_string_names():
    unit = validate_controlnet_unit(
        {"resize_mode": 0, "control_mode": "2", "enabled": True}, catalog=CATALOG
    )
    assert unit == {
        "resize_mode": "Just Resize",
        "control_mode": "ControlNet is more important",
        "enabled": True,
    }
    legacy = validate_controlnet_unit({"resize_mode": "Envelope (Outer Fit)"}, catalog=CATALOG)
    assert legacy["resize_mode"] == "Resize and Fill"


@pytest.mark.parametrize(
    ("unit", "field"),
    [
        ({"resize_mode": 3}, "resize_mode"),
        ({"control_mode": "balanced"}, "control_mode"),
        ({"weight": 2.5}, "weight"),
        ({"guidance_start": 0.8, "guidance_end": 0.5}, "guidance_start"),
        ({"guidance_end": 1.5}, "guidance_end"),
        ({"module": "canny", "preprocessor": "openpose_full"}, "preprocessor"),
        ({"image": "iVBORw0KGgo="}, "image"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_it_refuses_bad_unit_fields(unit, field):
    assert field in unit_errors(unit)


def test_a_generation_request_may_carry_images_in_its_units():
    unit = {"model": "openpose", "image": "iVBORw0KGgo="}
    assert validate_controlnet_unit(unit, catalog=CATALOG, allow_images=True) == unit


def test_units_beyond_the_backends_unit_count_are_refused():
    with pytest.raises(ValidationError) as caught:
        validate_controlnet_units([{"weight": 1}] * 4, catalog=CATALOG)
    assert "at most 3" in str(caught.value.detail["controlnet_units"][0])


def test_unit_errors_are_reported_per_position_under_the_field():
    with pytest.raises(ValidationError) as caught:
        validate_controlnet_units([{"weight": 1}, {"weight": 9}], catalog=CATALOG)
    assert caught.value.detail["controlnet_units"][0] == {}
    assert "weight" in caught.value.detail["controlnet_units"][1]


def test_units_are_a_409_when_no_backend_has_controlnet():
    with pytest.raises(Conflict) as caught:
        validate_controlnet_unit({"model": "openpose"}, catalog={**CATALOG, "controlnet": None})
    assert caught.value.error_code == "controlnet_unavailable"


def test_the_simulators_controlnet_lists_are_used(backend):
    unit = validate_controlnet_unit(
        {"model": "control_openpose-fp16", "preprocessor": "openpose_full"}
    )
    assert unit["module"] == "openpose_full"
    with pytest.raises(ValidationError):
        validate_controlnet_unit({"model": "control_nothing"})
