"""Every list/info route answers with the shape A1111 v1.10's OpenAPI document describes."""

from __future__ import annotations

import pytest
from simhelpers import SCHEMAS, response_schema, shape_errors

SHAPED_GETS = [
    "/sdapi/v1/sd-models",
    "/sdapi/v1/sd-vae",
    "/sdapi/v1/samplers",
    "/sdapi/v1/schedulers",
    "/sdapi/v1/upscalers",
    "/sdapi/v1/latent-upscale-modes",
    "/sdapi/v1/embeddings",
    "/sdapi/v1/hypernetworks",
    "/sdapi/v1/face-restorers",
    "/sdapi/v1/realesrgan-models",
    "/sdapi/v1/prompt-styles",
    "/sdapi/v1/memory",
    "/sdapi/v1/scripts",
    "/sdapi/v1/script-info",
    "/sdapi/v1/extensions",
    "/sdapi/v1/progress",
    "/sdapi/v1/options",
]


@pytest.mark.parametrize("path", SHAPED_GETS)
def test_get_routes_match_openapi(sim, path):
    r = sim.get(path)
    assert r.status_code == 200
    assert r.headers["X-A1111-Simulator"].startswith("a1111sim/")
    assert shape_errors(r.json(), response_schema("get", path)) == []


def test_models_samplers_and_schedulers_content(sim):
    titles = [m["title"] for m in sim.get("/sdapi/v1/sd-models").json()]
    for name in ("animefull_final.safetensors", "v1-5-pruned-emaonly.safetensors",
                 "sd_xl_base_1.0.safetensors", "SDXL/ponyDiffusionV6XL.safetensors"):  # fmt: skip
        assert any(t.startswith(name + " [") for t in titles)
    pony = next(m for m in sim.get("/sdapi/v1/sd-models").json() if "pony" in m["title"])
    assert pony["model_name"] == "SDXL_ponyDiffusionV6XL" and len(pony["hash"]) == 10
    samplers = {s["name"]: s for s in sim.get("/sdapi/v1/samplers").json()}
    assert "DPM++ 2M" in samplers and "Euler a" in samplers and len(samplers) == 20
    assert samplers["DPM++ 2M"]["options"] == {"scheduler": "karras"}
    assert samplers["Heun"]["options"] == {"second_order": "True"}
    labels = [s["label"] for s in sim.get("/sdapi/v1/schedulers").json()]
    assert labels[:3] == ["Automatic", "Uniform", "Karras"]
    upscalers = [u["name"] for u in sim.get("/sdapi/v1/upscalers").json()]
    assert {"None", "Lanczos", "Nearest", "4x-UltraSharp", "R-ESRGAN 4x+ Anime6B"} <= set(upscalers)
    vaes = [v["model_name"] for v in sim.get("/sdapi/v1/sd-vae").json()]
    assert "vae-ft-mse-840000-ema-pruned.safetensors" in vaes
    scripts = sim.get("/sdapi/v1/scripts").json()
    assert {"regional prompter", "controlnet", "x/y/z plot"} <= set(scripts["txt2img"])
    rp = next(
        s for s in sim.get("/sdapi/v1/script-info").json() if s["name"] == "regional prompter"
    )
    assert len(rp["args"]) == 20


def test_options_defaults(sim):
    opts = sim.get("/sdapi/v1/options").json()
    assert opts["sd_model_checkpoint"].startswith("animefull_final.safetensors [")
    assert len(opts["sd_checkpoint_hash"]) == 64
    assert opts["sd_vae"] == "Automatic" and opts["samples_format"] == "png"
    assert opts["CLIP_stop_at_last_layers"] == 1 and opts["control_net_unit_count"] == 3
    assert shape_errors(opts, SCHEMAS["Options"]) == []


def test_controlnet_routes(sim):
    assert sim.get("/controlnet/version").json() == {"version": 3}
    models = sim.get("/controlnet/model_list").json()["model_list"]
    assert "control_openpose-fp16 [9ca67cc5]" in models and "None" not in models
    modules = sim.get("/controlnet/module_list").json()
    # the extension's names (module_list answers names; alias_names answers labels)
    assert len(modules["module_list"]) == 72 and modules["module_list"][:3] == [
        "none", "ip-adapter-auto", "tile_resample"]  # fmt: skip
    for name in ("none", "canny", "depth", "openpose_full", "lineart", "pidinet",
                 "pidinet_scribble", "tile_resample", "reference_only", "ip-adapter-auto",
                 "color", "lineart_standard", "invert"):  # fmt: skip
        assert name in modules["module_list"]
    canny = modules["module_detail"]["canny"]
    assert (
        canny["model_free"] is False and [s["name"] for s in canny["sliders"]][1] == "Low Threshold"
    )
    labels = sim.get("/controlnet/module_list", params={"alias_names": "true"}).json()[
        "module_list"
    ]
    assert "invert (from white bg & black line)" in labels
    assert {"depth_midas", "softedge_pidinet", "scribble_pidinet", "t2ia_color_grid"} <= set(labels)
    types = sim.get("/controlnet/control_types").json()["control_types"]
    assert types["Canny"]["default_model"] == "control_v11p_sd15_canny [d14c016b]"
    assert sim.get("/controlnet/settings").json() == {"control_net_unit_count": 3}


def test_unknown_route_and_method(sim):
    assert sim.get("/sdapi/v1/nope").json() == {"detail": "Not Found"}
    r = sim.get("/sdapi/v1/txt2img")
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}


def test_feature_flags(make_sim):
    bare = make_sim(nowebui=True, controlnet=False, regional_prompter=False)
    assert bare.post("/internal/progress", {"id_task": "x"}).status_code == 404
    assert bare.get("/controlnet/version").status_code == 404
    scripts = bare.get("/sdapi/v1/scripts").json()["txt2img"]
    assert "controlnet" not in scripts and "regional prompter" not in scripts
    r = bare.post("/sdapi/v1/txt2img", {"alwayson_scripts": {"controlnet": {"args": []}}})
    assert r.status_code == 422
    assert r.json()["detail"] == "Script 'controlnet' not found"
