"""The payload builder, without any server: merge order, LoRA tags, A1111 field mapping."""

from __future__ import annotations

import re

import pytest
from rest_framework.exceptions import ValidationError

from generation_app.jobs.payloads import (
    BuildInputs,
    LoraRef,
    add_lora_tags,
    applied_lora_names,
    build_payload,
    expected_steps,
    format_weight,
    lora_hashes_key,
    loras_not_applied,
    unparseable_lora_tags,
)

CATALOG = {
    "character_lora.safetensors": LoraRef("character_lora.safetensors", "character_lora"),
    "style_lora.safetensors": LoraRef("style_lora.safetensors", "styleAlias"),
    "off.safetensors": LoraRef("off.safetensors", "off", enabled=False),
    "gone.safetensors": LoraRef("gone.safetensors", "gone", missing=True),
}


def build(**kwargs) -> dict:
    kwargs.setdefault("kind", "txt2img")
    kwargs.setdefault("catalog_loras", CATALOG)
    return build_payload(BuildInputs(**kwargs))


def test_it_merges_defaults_settings_preset_and_request_in_that_order():
    built = build(
        request={"prompt": "cat", "steps": 30},
        defaults={"steps": 20, "cfg_scale": 7.0, "width": 512, "sampler_name": "Euler"},
        custom_settings={"steps": 25, "cfg_scale": 5.0, "sampler_name": "DPM++ 2M"},
        preset_params={"cfg_scale": 9.0, "width": 768},
    )
    payload = built.payload
    assert payload["steps"] == 30  # request beats all
    assert payload["cfg_scale"] == 9.0  # preset beats custom settings
    assert payload["sampler_name"] == "DPM++ 2M"  # custom settings beat defaults
    assert payload["width"] == 768


def test_a_none_in_a_higher_layer_does_not_erase_a_lower_one():
    payload = build(request={"prompt": "x", "seed": None}, defaults={"seed": 5}).payload
    assert payload["seed"] == 5


def test_it_adds_session_loras_as_tags_with_the_name_a1111_resolves():
    built = build(
        request={"prompt": "portrait"},
        session_loras={"character_lora.safetensors": 0.8, "style_lora.safetensors": 0.6},
    )
    assert built.payload["prompt"] == "portrait <lora:character_lora:0.8> <lora:styleAlias:0.6>"
    assert built.loras == {"character_lora": 0.8, "styleAlias": 0.6}


def test_it_never_adds_a_tag_the_prompt_already_has():
    built = build(
        request={"prompt": "portrait <lora:character_lora:0.3>"},
        session_loras={"character_lora.safetensors": 0.8},
    )
    assert built.payload["prompt"].count("<lora:character_lora") == 1
    assert "<lora:character_lora:0.3>" in built.payload["prompt"]


def test_request_loras_override_session_weights_and_can_replace_the_session():
    built = build(
        request={"prompt": "p", "loras": {"character_lora.safetensors": 1.2}},
        session_loras={"character_lora.safetensors": 0.8, "style_lora.safetensors": 0.6},
    )
    assert "<lora:character_lora:1.2>" in built.payload["prompt"]
    assert "<lora:styleAlias:0.6>" in built.payload["prompt"]
    alone = build(
        request={
            "prompt": "p",
            "use_session_loras": False,
            "loras": {"character_lora.safetensors": 1},
        },
        session_loras={"style_lora.safetensors": 0.6},
    )
    assert alone.payload["prompt"] == "p <lora:character_lora:1>"


def test_disabled_missing_and_unknown_loras_are_left_out_with_a_warning():
    built = build(
        request={"prompt": "p"},
        session_loras={"off.safetensors": 1, "gone.safetensors": 1, "nope.safetensors": 1},
    )
    assert built.payload["prompt"] == "p"
    assert len(built.warnings) == 3
    assert any("disabled" in w for w in built.warnings)
    assert any("missing" in w for w in built.warnings)
    assert any("not in the LoRA catalog" in w for w in built.warnings)


def test_checkpoint_vae_and_clip_skip_go_to_override_settings_never_global_options():
    built = build(
        request={
            "prompt": "p",
            "checkpoint": "animefull_final.safetensors",
            "vae": "vae-ft-mse-840000-ema-pruned.safetensors",
            "clip_skip": 2,
            "batch_count": 3,
        },
        checkpoint_titles={
            "animefull_final.safetensors": "animefull_final.safetensors [abc1234567]"
        },
    )
    payload = built.payload
    assert payload["override_settings"] == {
        "sd_model_checkpoint": "animefull_final.safetensors [abc1234567]",
        "sd_vae": "vae-ft-mse-840000-ema-pruned.safetensors",
        "CLIP_stop_at_last_layers": 2,
    }
    assert payload["override_settings_restore_afterwards"] is True
    assert payload["n_iter"] == 3
    for hub_field in ("checkpoint", "vae", "clip_skip", "batch_count", "user_id", "loras"):
        assert hub_field not in payload


def test_it_sends_images_back_saves_nothing_and_tracks_the_task():
    payload = build(request={"prompt": "p"}, task_id="task(hub-1)").payload
    assert payload["send_images"] is True and payload["save_images"] is False
    assert payload["force_task_id"] == "task(hub-1)"
    assert payload["negative_prompt"] == ""


def test_expected_steps_counts_iterations_and_the_hires_pass():
    assert expected_steps({"steps": 20, "n_iter": 2}) == 40
    assert expected_steps({"steps": 20, "enable_hr": True}) == 40
    assert expected_steps({"steps": 20, "enable_hr": True, "hr_second_pass_steps": 5}) == 25
    assert expected_steps({"steps": 20, "init_images": ["x"], "denoising_strength": 0.5}) == 10


def test_weights_are_written_short():
    assert format_weight(0.8) == "0.8"
    assert format_weight(1.0) == "1"
    assert format_weight(-0.25) == "-0.25"


@pytest.mark.parametrize(
    "weight", [1e-5, -1e-5, 0.0004, -0.0004, 1e-12, 5.0, -5.0, 0.1 + 0.2, 2.675, 4.9999, 1e-3]
)
def test_every_weight_the_hub_writes_parses_in_a1111(weight):
    # ExtraNetworkLora.activate float()s it; str(1e-05) would parse too, but the hub's tag
    # must also round-trip through its own LORA_TAG and look like what a user types.
    text = format_weight(weight)
    assert re.fullmatch(r"-?\d+(\.\d{1,3})?", text), text
    assert text != "-0"
    assert abs(float(text) - weight) <= 0.0005
    prompt, _, _ = add_lora_tags("", {"character_lora.safetensors": weight}, CATALOG)
    assert not unparseable_lora_tags(prompt)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_weight_is_never_written(weight):
    with pytest.raises(ValueError):
        format_weight(weight)


@pytest.mark.parametrize("weight", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_non_finite_lora_weights_are_refused_at_validation(weight):
    from generation_app.api.serializers import LoraWeightsField

    with pytest.raises(ValidationError):
        LoraWeightsField().run_validation({"character_lora.safetensors": weight})


def test_unparseable_lora_tags_are_found():
    prompt = "a <lora:a:0.5> <lora:b:abc> <lora:c:1:xyz> <lora:d> <lora:e:te=0.5>"
    assert unparseable_lora_tags(prompt) == ["<lora:b:abc>", "<lora:c:1:xyz>"]


def test_the_applied_check_uses_the_tag_name_as_a1111_keys_it():
    # A1111 keys "Lora hashes" by the name written in the tag, ':' and ',' removed.
    assert lora_hashes_key("detail, tweaker") == "detail tweaker"
    info = {"extra_generation_params": {"Lora hashes": "detail tweaker: 0123456789ab, x: 1"}}
    assert loras_not_applied(["detail, tweaker", "x", "ghost"], info) == ["ghost"]
    assert loras_not_applied(["add_detail"], {}) == ["add_detail"]


def test_add_lora_tags_on_an_empty_prompt_gives_just_the_tags():
    prompt, applied, warnings = add_lora_tags("", {"character_lora.safetensors": 0.5}, CATALOG)
    assert prompt == "<lora:character_lora:0.5>" and not warnings


def test_applied_lora_names_reads_a1111s_lora_hashes():
    info = {
        "extra_generation_params": {
            "Lora hashes": '"character_lora: 0123456789ab, styleAlias: ba9876543210"'
        }
    }
    assert applied_lora_names(info) == {"character_lora", "styleAlias"}
    assert applied_lora_names({}) == set()


def test_hires_fix_always_sends_a_denoising_strength():
    # A1111's txt2img has no default for it: hires fix without one is a 500 TypeError.
    assert build(request={"prompt": "p", "enable_hr": True}).payload["denoising_strength"] == 0.7
    assert (
        build(request={"prompt": "p", "enable_hr": True, "denoising_strength": 0.3}).payload[
            "denoising_strength"
        ]
        == 0.3
    )
    assert "denoising_strength" not in build(request={"prompt": "p"}).payload


def test_the_default_scheduler_goes_only_with_the_default_sampler():
    defaults = {"sampler_name": "DPM++ 2M", "scheduler": "Karras"}
    assert build(request={"prompt": "p"}, defaults=defaults).payload["scheduler"] == "Karras"
    euler = build(request={"prompt": "p", "sampler_name": "Euler a"}, defaults=defaults).payload
    assert euler["sampler_name"] == "Euler a" and "scheduler" not in euler
    chosen = build(
        request={"prompt": "p", "sampler_name": "Euler a", "scheduler": "Exponential"},
        defaults=defaults,
    )
    assert chosen.payload["scheduler"] == "Exponential"
    saved = build(
        request={"prompt": "p"}, defaults=defaults, custom_settings={"sampler_name": "LMS"}
    )
    assert "scheduler" not in saved.payload
