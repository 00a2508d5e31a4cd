"""The hub against a REAL A1111 (v1.10.1 + ControlNet v1.1.455, CPU, random weights), driven
from outside as a user would: `manage.py runhub` with its backend the real server.

Random weights draw noise, so the tests check what the hub promises about the *contract* —
sizes, image counts, seeds, infotexts, ControlNet maps, error codes — never what a picture
shows. Every picture is 64² with 1-2 steps: a step takes seconds on this CPU.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import SMALL, decode, mask_b64, png_b64, wait_job

UNSIZED = {k: v for k, v in SMALL.items() if k not in ("width", "height")}

USER = "real-user"


def _submit(hub: dict[str, Any], path: str, body: dict[str, Any]) -> str:
    r = hub["http"].post(f"{hub['base']}{path}", json={"user_id": USER, **body}, timeout=60)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def _run(hub: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit, wait, and answer the job's result (the job must complete)."""
    job_id = _submit(hub, path, body)
    job = wait_job(hub, job_id)
    assert job["status"] == "completed", job
    r = hub["http"].get(f"{hub['base']}/jobs/{job_id}/result", timeout=30)
    assert r.status_code == 200, r.text
    return {"job": job, **r.json()}


def _canny_model(hub: dict[str, Any]) -> str:
    models = hub["http"].get(f"{hub['base']}/controlnet/models", timeout=30).json()["models"]
    return next(m for m in models if "canny" in m)


# --- the backend as the hub sees it ---------------------------------------------------------


def test_the_hub_sees_a_real_backend_not_the_simulator(hub, real_url):
    health = hub["http"].get(f"{hub['base']}/health", timeout=30).json()
    assert health["simulator"] is False
    (backend,) = health["backends"]
    assert backend["url"] == real_url and backend["is_simulator"] is False
    models = hub["http"].get(f"{hub['base']}/models", timeout=60).json()
    assert any(c["title"].startswith("random-sd15.safetensors [") for c in models["checkpoints"])
    assert {"Euler", "DPM++ 2M"} <= {s["name"] for s in models["samplers"]}
    assert {"Lanczos", "Nearest"} <= {u["name"] for u in models["upscalers"]}


# --- txt2img --------------------------------------------------------------------------------


def test_txt2img_gives_the_asked_size_and_batch_with_their_seeds(hub):
    result = _run(hub, "/generate/txt2img", {
        "prompt": "a red cube", **SMALL, "width": 96, "height": 64, "batch_size": 2,
    })  # fmt: skip
    assert len(result["images"]) == 2
    assert [decode(b).size for b in result["images"]] == [(96, 64), (96, 64)]
    assert result["seeds"] == [7, 8]  # A1111 counts the seed up within a batch
    first = result["items"][0]
    assert (first["width"], first["height"], first["seed"]) == (96, 64, 7)
    assert "Steps: 1, Sampler: Euler" in first["infotext"] and "Size: 96x64" in first["infotext"]


def test_the_same_seed_gives_the_same_picture(hub):
    body = {"prompt": "same seed", **SMALL, "seed": 1234}
    first, second = _run(hub, "/generate/txt2img", body), _run(hub, "/generate/txt2img", body)
    assert decode(first["images"][0]).tobytes() == decode(second["images"][0]).tobytes()


def test_txt2img_with_hires_fix_scales_the_size(hub):
    result = _run(hub, "/generate/txt2img", {
        "prompt": "hires", **SMALL, "enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent",
        "hr_second_pass_steps": 1, "denoising_strength": 0.5,
    })  # fmt: skip
    assert decode(result["images"][0]).size == (96, 96)
    info = result["items"][0]["infotext"]
    assert "Hires upscale: 1.5" in info and "Hires upscaler: Latent" in info
    assert "Denoising strength: 0.5" in info


# --- img2img, inpaint, outpaint -------------------------------------------------------------


def test_img2img_keeps_the_init_images_size(hub):
    result = _run(hub, "/generate/img2img", {
        "prompt": "repaint", **UNSIZED,
        "init_images": [png_b64(64, 72)], "denoising_strength": 0.5,
    })  # fmt: skip
    assert decode(result["images"][0]).size == (64, 72)
    assert "Denoising strength: 0.5" in result["items"][0]["infotext"]


def test_inpaint_with_a_mask(hub):
    result = _run(hub, "/generate/img2img", {
        "prompt": "inpaint", **SMALL, "init_images": [png_b64()], "mask": mask_b64(),
        "mask_blur": 2, "inpainting_fill": 1, "denoising_strength": 0.75,
    })  # fmt: skip
    assert decode(result["images"][0]).size == (64, 64)
    assert "Mask blur: 2" in result["items"][0]["infotext"]


def test_outpaint_extends_the_picture(hub):
    result = _run(hub, "/generate/outpaint", {
        "prompt": "more of it", **UNSIZED,
        "image": png_b64(), "down": 8,
    })  # fmt: skip
    assert decode(result["images"][0]).size == (64, 72)


# --- ControlNet -----------------------------------------------------------------------------


def test_controlnet_preprocess_with_canny(hub):
    r = hub["http"].post(f"{hub['base']}/controlnet/preprocess", json={
        "module": "canny", "image": png_b64(), "processor_res": 64,
        "threshold_a": 100, "threshold_b": 200,
    }, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    (detected,) = r.json()["images"]
    edges = decode(detected)
    assert edges.size == (64, 64)
    assert edges.convert("L").getextrema() == (0, 255)  # canny found the square's edges


def test_controlnet_preprocess_takes_a_modules_label(hub):
    """`color` is listed by name; its label `t2ia_color_grid` (cv2 only) is what the UI shows."""
    r = hub["http"].post(f"{hub['base']}/controlnet/preprocess", json={
        "module": "t2ia_color_grid", "image": png_b64(), "processor_res": 64,
    }, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["module"] == "t2ia_color_grid" and len(r.json()["images"]) == 1


def test_a_controlnet_unit_with_the_canny_model_is_applied(hub):
    result = _run(hub, "/generate/controlnet", {
        "prompt": "edges", **SMALL,
        "controlnet_units": [{"module": "canny", "model": _canny_model(hub),
                              "image": png_b64(), "processor_res": 64}],
    })  # fmt: skip
    assert len(result["images"]) == 1
    assert decode(result["images"][0]).size == (64, 64)
    assert len(result["extras"]) == 1  # the detected map: the unit really ran
    assert 'ControlNet 0: "Module: canny' in result["items"][0]["infotext"]
    assert not result["job"]["warnings"]


def test_a_controlnet_unit_a1111_would_reject_is_refused_before_queueing(hub):
    """A1111 answers 500 (pydantic ValidationError) to a weight above 2 and to an unknown
    module, after the job waited its turn: the hub says so at once, naming the field."""
    unit = {"module": "canny", "model": _canny_model(hub), "image": png_b64()}
    for bad, field in (({"weight": 2.5}, "weight"), ({"module": "no_such_module"}, "module")):
        r = hub["http"].post(f"{hub['base']}/generate/controlnet", json={
            "user_id": USER, "prompt": "x", **SMALL, "controlnet_units": [{**unit, **bad}],
        }, timeout=30)  # fmt: skip
        assert r.status_code == 400, r.text
        assert field in r.text


def test_an_unknown_controlnet_model_is_refused_not_silently_skipped(hub):
    """A1111 skips a unit whose model it cannot find and answers 200 (one picture, no map)."""
    r = hub["http"].post(f"{hub['base']}/generate/controlnet", json={
        "user_id": USER, "prompt": "x", **SMALL,
        "controlnet_units": [{"module": "canny", "model": "control_nope [00000000]",
                              "image": png_b64()}],
    }, timeout=30)  # fmt: skip
    assert r.status_code == 400, r.text
    assert "control_nope" in r.text


# --- extras: upscale, PNG info --------------------------------------------------------------


def test_upscale_with_lanczos(hub):
    result = _run(hub, "/upscale", {
        "image": png_b64(), "upscaler_1": "Lanczos", "upscaling_resize": 2,
    })  # fmt: skip
    assert decode(result["images"][0]).size == (128, 128)


def test_an_unknown_upscaler_is_a_400_listing_the_valid_ones(hub):
    r = hub["http"].post(f"{hub['base']}/upscale", json={
        "user_id": USER, "image": png_b64(), "upscaler_1": "No Such Upscaler",
    }, timeout=30)  # fmt: skip
    assert r.status_code == 400 and "Lanczos" in r.text, r.text


def test_png_info_round_trip_agrees_with_a1111s_own_reading(hub, real, real_url):
    """A picture the real A1111 made reads back, through the hub, as the request that made
    it — and the hub's reading of the infotext agrees with A1111's own /png-info."""
    sent = {"prompt": "a lighthouse, dusk", "negative_prompt": "blurry", **SMALL,
            "cfg_scale": 6.5, "seed": 4242}  # fmt: skip
    png = _run(hub, "/generate/txt2img", sent)["images"][0]
    r = hub["http"].post(f"{hub['base']}/png-info", json={"image": png}, timeout=30)
    assert r.status_code == 200, r.text
    back = r.json()
    assert back["kind"] == "txt2img"
    for key, value in sent.items():
        assert back["request"][key] == value, key
    theirs = real.post(f"{real_url}/sdapi/v1/png-info", json={"image": png}, timeout=30).json()
    assert theirs["info"] == back["infotext"]
    assert theirs["parameters"]["Prompt"] == sent["prompt"]
    assert theirs["parameters"]["Seed"] == str(sent["seed"]) == str(back["request"]["seed"])
    assert theirs["parameters"]["Model"] == back["parameters"]["Model"]


# --- a sweep --------------------------------------------------------------------------------


def test_a_2x2_sweep_runs_every_cell_and_draws_the_sheet(hub):
    r = hub["http"].post(f"{hub['base']}/generate/sweep", json={
        "user_id": USER, "kind": "txt2img", "base": {"prompt": "sweep", **SMALL},
        "axes": [{"field": "seed", "values": [1, 2]}, {"field": "cfg_scale", "values": [5, 9]}],
    }, timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    sweep_id = r.json()["sweep_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        sweep = hub["http"].get(f"{hub['base']}/sweeps/{sweep_id}", timeout=10).json()
        if sweep["status"] not in ("queued", "running"):
            break
        time.sleep(1)
    assert sweep["status"] == "completed", sweep
    assert len(sweep["cells"]) == 4
    seeds = set()
    for cell in sweep["cells"]:
        result = hub["http"].get(f"{hub['base']}/jobs/{cell['job_id']}/result", timeout=30).json()
        seeds.add(result["seeds"][0])
        assert f"CFG scale: {cell['values']['cfg_scale']}" in result["items"][0]["infotext"]
    assert seeds == {1, 2}
    sheet = hub["http"].get(sweep["sheet_url"], timeout=30)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"] == "image/png"


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_during_a_job_interrupts_a1111(hub, real, real_url):
    job_id = _submit(hub, "/generate/txt2img", {"prompt": "long", **SMALL, "steps": 30})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # seen running on the real server itself
        progress = real.get(f"{real_url}/sdapi/v1/progress", timeout=10).json()
        job = hub["http"].get(f"{hub['base']}/jobs/{job_id}", timeout=10).json()
        if job["status"] == "running" and progress["state"]["sampling_step"] >= 1:
            break
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.3)
    else:
        raise AssertionError("the job was never seen sampling")
    r = hub["http"].post(f"{hub['base']}/jobs/{job_id}/cancel", timeout=30)
    assert r.status_code in (200, 202), r.text
    job = wait_job(hub, job_id, timeout=60)  # A1111 stops at its next step: well before 30
    assert job["status"] == "cancelled", job
    state = real.get(f"{real_url}/sdapi/v1/progress", timeout=10).json()["state"]
    assert state["sampling_step"] < 30
    # The backend is free again: the next job runs.
    assert _run(hub, "/generate/txt2img", {"prompt": "after", **SMALL})["images"]


# --- error paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sampler_name", "No Such Sampler"),  # A1111 would silently use DPM++ 2M
        ("scheduler", "no_such_scheduler"),  # A1111 would silently use Automatic
        ("checkpoint", "no_such_model.safetensors"),  # A1111 would silently keep its own
        ("hr_upscaler", "No Such Upscaler"),  # A1111 would 500 after the first pass
    ],
)
def test_an_unknown_name_is_a_400_not_a1111s_silent_fallback(hub, field, value):
    body = {"user_id": USER, "prompt": "x", **SMALL, field: value}
    if field == "hr_upscaler":
        body.update(enable_hr=True, denoising_strength=0.5)
    r = hub["http"].post(f"{hub['base']}/generate/txt2img", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert field in r.json().get("fields", r.json()) or field in r.text
