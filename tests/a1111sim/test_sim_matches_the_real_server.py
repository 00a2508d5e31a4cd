"""What the differential test (tests_real/test_differential.py, `make test-real`) found the
real A1111 v1.10.1 + ControlNet v1.1.455 doing differently, pinned here so the simulator keeps
the real server's shapes without a real server at hand."""

from __future__ import annotations

from typing import Any


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
    ram = sim.get("/sdapi/v1/memory").json()["ram"]  # used is the RSS, total is computed
    assert isinstance(ram["used"], int)
    assert isinstance(ram["free"], float) and isinstance(ram["total"], float)


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
