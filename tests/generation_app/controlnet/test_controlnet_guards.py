"""The hub defends against ControlNet's silent skip.

Real A1111 (and a1111sim, corrected) answers 200 with no unit applied when the ControlNet
model does not fit the checkpoint, the model is missing or a unit has no image. The hub
refuses what it can tell before queueing, and flags a run whose maps are missing.
"""

from __future__ import annotations

import base64
import io

import pytest
import requests
from PIL import Image, ImageDraw

from generation_app.models import Job, JobImage
from genparams import families

SD15_CANNY = "control_v11p_sd15_canny [d14c016b]"
XL_CANNY = "diffusers_xl_canny_mid [112a778d]"


def picture_b64(size=(64, 64)) -> str:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), outline="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def body(model: str, **extra) -> dict:
    unit = {"module": "canny", "model": model, **extra.pop("unit", {})}
    return {
        "user_id": "u1",
        "prompt": "a house",
        "width": 64,
        "height": 64,
        "image": picture_b64(),
        "controlnet_units": [unit],
        **extra,
    }


def sim_txt2img_calls(sim) -> list[dict]:
    history = requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
    return [h for h in history if h["route"] == "/sdapi/v1/txt2img"]


# --- the families, without a server ---------------------------------------------------------
@pytest.mark.parametrize(
    "name, family",
    [
        ("control_v11p_sd15_canny [d14c016b]", families.SD1),
        ("diffusers_xl_canny_mid [112a778d]", families.SDXL),
        ("controlnet_sd21_depth", families.SD2),
        ("control_openpose-fp16 [9ca67cc5]", None),
    ],
)
def test_controlnet_model_families_follow_the_extensions_name_rule(name, family):
    assert families.controlnet_model_family(name) == family


@pytest.mark.parametrize(
    "entry, family",
    [
        ({"title": "sd_xl_base_1.0.safetensors [31e35c80fc]"}, families.SDXL),
        ({"title": "ponyDiffusionV6XL.safetensors [67ab2fd8ec]",
          "filename": "/m/SDXL/ponyDiffusionV6XL.safetensors"}, families.SDXL),
        ({"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]"}, families.SD1),
        ({"title": "v2-1_768-ema-pruned.safetensors [ad2a33c361]"}, families.SD2),
        ({"title": "illustrious.safetensors",
          "metadata": {"modelspec.architecture": "stable-diffusion-xl-v1-base"}}, families.SDXL),
        ({"title": "animefull_final.safetensors [a1b2c3d4e5]"}, None),
        ({"title": "realisticVision_v5.1.safetensors"}, None),
    ],
)  # fmt: skip
def test_checkpoint_families_from_title_file_name_and_metadata(entry, family):
    assert families.checkpoint_family(entry) == family


def test_only_sdxl_against_non_sdxl_is_a_mismatch_and_unknown_always_fits():
    assert not families.compatible(families.SD1, families.SDXL)
    assert not families.compatible(families.SDXL, families.SD1)
    assert families.compatible(families.SD1, families.SD2)
    assert families.compatible(None, families.SDXL)
    assert families.compatible(families.SDXL, None)


# --- refused before queueing ------------------------------------------------------------------
def test_an_sd15_model_on_the_requests_sdxl_checkpoint_is_a_400_naming_both(api, backend, sim):
    response = api.post(
        "/generate/controlnet",
        body("control_v11p_sd15_canny", checkpoint="sd_xl_base_1.0.safetensors"),
        format="json",
    )
    assert response.status_code == 400, response.json()
    error = response.json()
    assert error["error"] == "controlnet_model_mismatch"
    assert SD15_CANNY in error["detail"] and "SD1.5" in error["detail"]
    assert "sd_xl_base_1.0.safetensors" in error["detail"] and "SDXL" in error["detail"]
    assert (error["model"], error["model_family"]) == (SD15_CANNY, "SD1.5")
    assert error["checkpoint"].startswith("sd_xl_base_1.0.safetensors [")
    assert error["checkpoint_family"] == "SDXL"
    assert error["compatible_models"] == [XL_CANNY]
    assert not Job.objects.exists()
    assert not sim_txt2img_calls(sim)


def test_an_sdxl_model_on_an_sd15_checkpoint_is_a_400(api, backend, sim):
    response = api.post(
        "/generate/controlnet",
        body("diffusers_xl_canny_mid", checkpoint="v1-5-pruned-emaonly.safetensors"),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["checkpoint_family"] == "SD1.5"
    assert response.json()["model_family"] == "SDXL"


def test_the_sessions_preferred_checkpoint_counts(api, backend, sim):
    settings_body = {"preferred_checkpoint": "SDXL/ponyDiffusionV6XL.safetensors"}
    assert api.patch("/sessions/u1/settings", settings_body, format="json").status_code == 200
    response = api.post("/generate/controlnet", body("control_v11p_sd15_canny"), format="json")
    assert response.status_code == 400, response.json()
    assert "ponyDiffusionV6XL" in response.json()["checkpoint"]
    # The request's own checkpoint wins over the session's.
    ok = body("control_v11p_sd15_canny", checkpoint="v1-5-pruned-emaonly.safetensors")
    assert api.post("/generate/controlnet", ok, format="json").status_code == 202


def test_without_a_checkpoint_the_backends_loaded_one_counts(api, backend, sim):
    requests.post(
        f"{sim.url}/sdapi/v1/options",
        json={"sd_model_checkpoint": "sd_xl_base_1.0.safetensors"},
        timeout=30,
    ).raise_for_status()
    response = api.post("/generate/controlnet", body("control_v11p_sd15_canny"), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["checkpoint"].startswith("sd_xl_base_1.0.safetensors")
    assert (
        api.post("/generate/controlnet", body("diffusers_xl_canny_mid"), format="json").status_code
        == 202
    )


def test_a_disabled_unit_or_an_unknown_family_is_not_refused(api, backend, sim):
    xl = {"checkpoint": "sd_xl_base_1.0.safetensors"}
    disabled = body("control_v11p_sd15_canny", unit={"enabled": False}, **xl)
    assert api.post("/generate/controlnet", disabled, format="json").status_code == 202
    unknown = body("control_openpose-fp16", **xl)
    assert api.post("/generate/controlnet", unknown, format="json").status_code == 202


def test_a_model_the_backend_lacks_and_a_unit_without_image_are_400s(api, backend, sim):
    missing = api.post("/generate/controlnet", body("control_sd15_nope"), format="json")
    assert missing.status_code == 400 and "Unknown ControlNet model" in missing.json()["detail"]
    no_image = body("control_v11p_sd15_canny")
    no_image.pop("image")
    response = api.post("/generate/controlnet", no_image, format="json")
    assert response.status_code == 400 and "Unit 0 has no image" in response.json()["detail"]
    assert not Job.objects.exists()


# --- flagged after the run ------------------------------------------------------------------
def test_a_run_whose_units_were_silently_skipped_is_flagged(api, backend, cluster, sim):
    # animefull_final's family cannot be told from its name, so the hub lets it through; the
    # backend (SD1.5) skips the SDXL unit silently: 200, no maps, "ControlNet 0" in the infotext.
    response = api.post("/generate/controlnet", body("diffusers_xl_canny_mid"), format="json")
    assert response.status_code == 202, response.json()
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed", job.message
    assert "ControlNet 0" in job.info["extra_generation_params"]
    assert not job.images.filter(role=JobImage.Role.CONTROL_MAP).exists()
    (warning,) = [w for w in job.warnings if "ControlNet" in w]
    assert "probably NOT applied" in warning and "SD-version mismatch" in warning
    assert warning in api.get(f"/jobs/{job.pk}").json()["warnings"]


def test_a_run_with_its_maps_or_without_save_detected_map_is_not_flagged(
    api, backend, cluster, sim
):
    assert (
        api.post("/generate/controlnet", body("control_v11p_sd15_canny"), format="json").status_code
        == 202
    )
    no_maps = body("diffusers_xl_canny_mid", unit={"save_detected_map": False})
    assert api.post("/generate/controlnet", no_maps, format="json").status_code == 202
    cluster.drain()
    applied, unsaved = Job.objects.order_by("created_at")
    assert applied.images.filter(role=JobImage.Role.CONTROL_MAP).count() == 1
    assert not [w for w in applied.warnings if "ControlNet" in w]
    assert unsaved.status == "completed"
    assert not [w for w in unsaved.warnings if "ControlNet" in w]
