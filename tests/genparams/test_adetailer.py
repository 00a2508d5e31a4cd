"""ADetailer tabs: checked as Bing-su/adetailer checks them, sent in its exact arg order.

Sources: ``adetailer/args.py`` ``ADetailerArgs`` (pydantic, ``extra=forbid``,
``ad_confidence: confloat(ge=0.0, le=1.0)``, ``ad_mask_merge_invert`` Literal, …);
``adetailer/ui.py`` ``adui`` (``components = [ad_enable, ad_skip_img2img, *states]``);
``scripts/!adetailer.py`` ``is_ad_enabled`` (``args_[0]`` a bool is the enable flag, the
dicts are the tabs) and ``title`` (``AFTER_DETAILER`` = "ADetailer").
"""

from __future__ import annotations

import pytest
from rest_framework import serializers

from genparams.adetailer import FIELDS, script_args, validate_tabs

AVAILABLE = {"version": "24.11.1", "models": ["face_yolov8n.pt", "hand_yolov8n.pt"], "tabs": 2}


def test_script_args_are_enable_skip_then_one_dict_per_tab() -> None:
    tabs = validate_tabs(
        [{"ad_model": "face_yolov8n.pt", "ad_prompt": "smile", "ad_confidence": 0.5,
          "ad_denoising_strength": 0.35, "ad_inpaint_only_masked": True, "ad_mask_blur": 4.0}],
        AVAILABLE,
    )  # fmt: skip
    assert script_args(tabs) == {
        "ADetailer": {
            "args": [
                True,
                False,
                {"ad_model": "face_yolov8n.pt", "ad_prompt": "smile", "ad_confidence": 0.5,
                 "ad_denoising_strength": 0.35, "ad_inpaint_only_masked": True, "ad_mask_blur": 4},
            ]
        }
    }  # fmt: skip
    assert isinstance(script_args(tabs)["ADetailer"]["args"][2]["ad_mask_blur"], int)


def test_fields_follow_adetailer_args_order() -> None:
    """ALL_ARGS order in adetailer/args.py, first and last."""
    keys = list(FIELDS)
    assert keys[:5] == ["ad_model", "ad_model_classes", "ad_tap_enable", "ad_prompt",
                        "ad_negative_prompt"]  # fmt: skip
    assert keys[-1] == "ad_controlnet_guidance_end" and len(keys) == 41


@pytest.mark.parametrize(
    "tab, message",
    [
        ({"ad_model": "nope.pt"}, "unknown ad_model 'nope.pt'. Valid: face_yolov8n.pt"),
        ({"ad_prompt": "x"}, "ad_model is required"),
        (
            {"ad_model": "face_yolov8n.pt", "ad_confidence": 1.5},
            "ad_confidence must be at most 1.0",
        ),
        ({"ad_model": "face_yolov8n.pt", "ad_bogus": 1}, "unknown field 'ad_bogus'"),
        ({"ad_model": "face_yolov8n.pt", "ad_mask_merge_invert": "x"}, "must be one of None"),
        ({"ad_model": "face_yolov8n.pt", "ad_steps": 0}, "ad_steps must be at least 1"),
        ({"ad_model": "face_yolov8n.pt", "ad_inpaint_only_masked": "yes"}, "true or false"),
    ],
)
def test_what_a1111_would_swallow_is_refused(tab, message) -> None:
    with pytest.raises(serializers.ValidationError) as exc:
        validate_tabs([tab], AVAILABLE)
    assert message in str(exc.value.detail)


def test_more_tabs_than_the_extension_has_are_refused() -> None:
    """api.init_script_args copies at most args_to - args_from args: a third tab is dropped."""
    with pytest.raises(serializers.ValidationError):
        validate_tabs([{"ad_model": "face_yolov8n.pt"}] * 3, AVAILABLE)
    assert validate_tabs([{"ad_model": "anything.pt"}], None)  # no catalog: not checked
