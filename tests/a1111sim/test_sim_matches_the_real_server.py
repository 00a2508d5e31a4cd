"""What the differential test (tests_real/test_differential.py, `make test-real`) found the
real A1111 v1.10.1 + ControlNet v1.1.455 doing differently, pinned here so the simulator keeps
the real server's shapes without a real server at hand."""

from __future__ import annotations

import json
from typing import Any

from simhelpers import encode, test_image


def test_an_http_exceptions_errors_text_is_empty(sim: Any, make_sim: Any) -> None:
    """starlette 0.26 (fastapi 0.94) HTTPException has no str(): `errors` is ""."""
    r = sim.post("/sdapi/v1/png-info", {"image": "bm90IGFuIGltYWdl"})
    assert r.status_code == 500
    assert r.json() == {"error": "HTTPException", "detail": "Invalid encoded image", "body": "",
                        "errors": ""}  # fmt: skip
    r = sim.post("/controlnet/detect", {"controlnet_module": "nope"})
    assert r.status_code == 422 and r.json()["errors"] == ""


def test_idle_progress_numbers_are_floats(sim: Any) -> None:
    """ProgressResponse declares floats: pydantic answers 0.0, not 0."""
    body = sim.get("/sdapi/v1/progress").json()
    assert isinstance(body["progress"], float) and isinstance(body["eta_relative"], float)


def test_catalog_numbers_have_the_real_types(sim: Any) -> None:
    upscalers = sim.get("/sdapi/v1/upscalers").json()
    assert all(isinstance(u["scale"], float) for u in upscalers)
    schedulers = sim.get("/sdapi/v1/schedulers").json()
    assert all(isinstance(s["default_rho"], float) for s in schedulers)
    memory = sim.get("/sdapi/v1/memory").json()
    ram = memory["ram"]  # used is the RSS, total is computed
    assert isinstance(ram["used"], int)
    assert isinstance(ram["free"], float) and isinstance(ram["total"], float)
    # torch.cuda's byte counts are ints (read from api.get_memory; the CPU kit has no CUDA)
    assert all(isinstance(v, int) for part in memory["cuda"].values() for v in part.values())


def test_face_restorers_have_no_cmd_dir(sim: Any) -> None:
    """v1.10's restorers have no `cmd_dir` attribute: the API answers null for both."""
    restorers = sim.get("/sdapi/v1/face-restorers").json()
    assert restorers == [
        {"name": "CodeFormer", "cmd_dir": None},
        {"name": "GFPGAN", "cmd_dir": None},
    ]


def test_api_only_has_no_controlnet_options(make_sim: Any) -> None:
    """With --nowebui no UI is built, so the extension never registers its settings;
    /controlnet/settings still answers the unit count."""
    sim = make_sim(nowebui=True)
    options = sim.get("/sdapi/v1/options").json()
    assert not [k for k in options if k.startswith(("control_net_", "controlnet_"))]
    assert sim.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    with_ui = make_sim().get("/sdapi/v1/options").json()
    assert with_ui["control_net_unit_count"] == 3


def test_script_names_in_load_order(make_sim: Any) -> None:
    """/scripts lists scripts in load order: the webui's own, the built-in extensions'
    (Hypertile keeps its capital: its class sets `name`), the extensions' in folder order
    (ControlNet brings the selectable "controlnet m2m"), then refiner, sampler, seed. There
    is no "comments" script in v1.10.1."""
    scripts = make_sim(regional_prompter=False, adetailer=False).get("/sdapi/v1/scripts").json()
    assert scripts["txt2img"] == [
        "prompt matrix", "prompts from file or textbox", "x/y/z plot", "extra options",
        "Hypertile", "controlnet", "controlnet m2m", "refiner", "sampler", "seed",
    ]  # fmt: skip
    assert scripts["img2img"][-8:] == [
        "x/y/z plot", "extra options", "Hypertile", "soft inpainting", "controlnet",
        "controlnet m2m", "refiner", "sampler", "seed",
    ][-8:]  # fmt: skip
    full = make_sim().get("/sdapi/v1/scripts").json()["txt2img"]
    assert full[full.index("Hypertile") :] == [
        "Hypertile", "adetailer", "controlnet", "controlnet m2m", "regional prompter",
        "refiner", "sampler", "seed",
    ]  # fmt: skip


def test_png_info_adds_a1111s_defaults_even_without_an_infotext(sim: Any) -> None:
    """parse_generation_parameters always runs: the fields a text lacks get their defaults."""
    plain = encode(test_image(64, 64))
    params = sim.post("/sdapi/v1/png-info", {"image": plain}).json()["parameters"]
    assert params["Prompt"] == "" and params["Negative prompt"] == ""
    assert params["Hires prompt"] == "" and params["Masked area padding"] == 32
    assert params["Schedule type"] == "Automatic" and params["FP8 weight"] == "Disable"
    assert params["Refiner switch by sampling steps"] is False
    assert "Emphasis" not in params
    png = sim.post("/sdapi/v1/txt2img", {"prompt": "a (bright:1.2) lamp", "steps": 1,
                                         "width": 64, "height": 64}).json()["images"][0]  # fmt: skip
    params = sim.post("/sdapi/v1/png-info", {"image": png}).json()["parameters"]
    assert list(params)[:2] == ["Steps", "Sampler"]  # the parsed fields come first
    assert params["Emphasis"] == "Original" and params["Schedule type"] != ""
    assert params["Hires resize-1"] == 0 and params["Hires resize-2"] == 0


def test_inpainting_infotext_fields(sim: Any) -> None:
    """img2img.init: inpaint_full_res (on by default) with a mask that is not blank writes
    the area and padding; inpainting_fill 0 is "fill"; a zero blur writes no Mask blur."""
    img, mask = test_image(64, 64), test_image(64, 64).convert("L")
    body = {"init_images": [encode(img)], "mask": encode(mask), "steps": 1,
            "width": 64, "height": 64}  # fmt: skip
    info = json.loads(sim.post("/sdapi/v1/img2img", body).json()["info"])
    extra = info["extra_generation_params"]
    assert extra["Mask blur"] == 4 and extra["Inpaint area"] == "Only masked"
    assert extra["Masked area padding"] == 0 and extra["Masked content"] == "fill"
    body.update(mask_blur=0, inpaint_full_res=False, inpainting_fill=1, inpainting_mask_invert=1)
    extra = json.loads(sim.post("/sdapi/v1/img2img", body).json()["info"])[
        "extra_generation_params"
    ]
    assert extra["Mask mode"] == "Inpaint not masked"
    assert not {"Mask blur", "Inpaint area", "Masked area padding", "Masked content"} & set(extra)
