"""txt2img/img2img: responses, determinism, infotexts, silent fallbacks, errors, auth."""

from __future__ import annotations

import requests
from simhelpers import decode, encode, mean_diff, response_schema, shape_errors, test_image

from a1111sim.server import SimConfig, start_in_thread


def test_txt2img_response_shape_and_infotext(sim):
    data, info = sim.txt2img(prompt="a cat", negative_prompt="blurry", seed=123, steps=20,
                             width=512, height=768, sampler_name="DPM++ 2M Karras")  # fmt: skip
    assert shape_errors(data, response_schema("post", "/sdapi/v1/txt2img")) == []
    assert len(data["images"]) == 1 and not data["images"][0].startswith("data:")
    img = decode(data["images"][0])
    assert img.size == (512, 768) and img.format == "PNG"
    text = img.info["parameters"]
    assert text.startswith("a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, ")
    assert "Schedule type: Karras, CFG scale: 7.0, Seed: 123, Size: 512x768, Model hash: " in text
    assert text.endswith("Model: animefull_final, Version: v1.10.1")
    for key in ("prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed",
                "all_seeds", "subseed", "all_subseeds", "subseed_strength", "width", "height",
                "sampler_name", "cfg_scale", "steps", "batch_size", "restore_faces",
                "face_restoration_model", "sd_model_name", "sd_model_hash", "sd_vae_name",
                "sd_vae_hash", "seed_resize_from_w", "seed_resize_from_h", "denoising_strength",
                "extra_generation_params", "index_of_first_image", "infotexts", "styles",
                "job_timestamp", "clip_skip", "is_using_inpainting_conditioning", "version"):  # fmt: skip
        assert key in info
    assert "scheduler" not in info
    assert info["infotexts"] == [text] and info["sd_model_name"] == "animefull_final"
    assert info["sampler_name"] == "DPM++ 2M" and info["version"] == "v1.10.1"
    params = data["parameters"]
    assert params["sampler_name"] == "DPM++ 2M Karras" and params["sampler_index"] == "Euler"
    assert params["seed"] == 123 and params["alwayson_scripts"] == {} and "user_id" not in params


def test_defaults_and_empty_body(sim):
    r = sim.post("/sdapi/v1/txt2img", {})
    assert r.status_code == 200
    params = r.json()["parameters"]
    assert params["steps"] == 50 and params["width"] == 512 and params["seed"] == -1
    info = __import__("json").loads(r.json()["info"])
    assert info["sampler_name"] == "Euler" and info["steps"] == 50
    assert info["seed"] >= 0 and info["all_seeds"] == [info["seed"]]


def test_determinism_and_seeds(sim):
    a, _ = sim.txt2img(prompt="red fox", seed=7, steps=2, width=128, height=128)
    b, _ = sim.txt2img(prompt="red fox", seed=7, steps=2, width=128, height=128)
    c, _ = sim.txt2img(prompt="red fox", seed=8, steps=2, width=128, height=128)
    d, _ = sim.txt2img(prompt="blue fox", seed=7, steps=2, width=128, height=128)
    assert a["images"] == b["images"]
    assert a["images"][0] != c["images"][0] and a["images"][0] != d["images"][0]
    assert mean_diff(decode(a["images"][0]), decode(c["images"][0])) > 5


def test_batch_and_n_iter(sim):
    data, info = sim.txt2img(
        prompt="x", seed=100, steps=1, batch_size=2, n_iter=3, width=64, height=64
    )
    assert len(data["images"]) == 6
    assert info["all_seeds"] == [100, 101, 102, 103, 104, 105]
    assert len(info["all_subseeds"]) == 6 and len(info["infotexts"]) == 6
    assert "Seed: 103," in info["infotexts"][3] and info["index_of_first_image"] == 0
    data, info = sim.txt2img(prompt="x", seed=-1, steps=1, batch_size=2, width=64, height=64)
    assert data["parameters"]["seed"] == -1 and info["seed"] >= 0
    assert info["all_seeds"] == [info["seed"], info["seed"] + 1]
    data, info = sim.txt2img(prompt="x", seed=5, subseed=9, subseed_strength=0.5, steps=1,
                             batch_size=2, width=64, height=64)  # fmt: skip
    assert info["all_seeds"] == [5, 5] and info["all_subseeds"] == [9, 10]
    assert "Variation seed: 9, Variation seed strength: 0.5" in info["infotexts"][0]


def test_grid_send_images_and_formats(sim):
    data, info = sim.txt2img(
        prompt="x", steps=1, batch_size=2, width=64, height=64, save_images=True
    )
    assert len(data["images"]) == 3 and info["index_of_first_image"] == 1
    assert decode(data["images"][0]).size == (128, 64) and len(info["infotexts"]) == 3
    data, _ = sim.txt2img(prompt="x", steps=1, send_images=False)
    assert data["images"] == []


def test_hires_fix_sizes(sim):
    data, info = sim.txt2img(prompt="x", steps=2, width=64, height=96, enable_hr=True, hr_scale=2,
                             hr_upscaler="4x-UltraSharp", denoising_strength=0.5)  # fmt: skip
    assert decode(data["images"][0]).size == (128, 192)
    assert info["width"] == 64 and "Size: 64x96" in info["infotexts"][0]
    assert info["extra_generation_params"]["Hires upscale"] == 2
    assert info["extra_generation_params"]["Hires upscaler"] == "4x-UltraSharp"
    data, _ = sim.txt2img(
        prompt="x",
        steps=1,
        width=64,
        height=96,
        enable_hr=True,
        hr_resize_x=100,
        denoising_strength=0.5,
    )
    assert decode(data["images"][0]).size == (100, 150)
    r = sim.post("/sdapi/v1/txt2img", {"enable_hr": True, "hr_upscaler": "Nope", "steps": 1})
    assert r.status_code == 500 and "could not find upscaler named Nope" in r.json()["errors"]


def test_silent_fallbacks(sim):
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64, sampler_name="Not A Sampler")
    assert info["sampler_name"] == "DPM++ 2M"
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64, sampler_name="Euler a",
                          scheduler="Exponential")  # fmt: skip
    assert "Sampler: Euler a, Schedule type: Exponential" in info["infotexts"][0]
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64,
                          override_settings={"sd_model_checkpoint": "no-such-model"})  # fmt: skip
    assert info["sd_model_name"] == "animefull_final"
    assert sim.history()[-1]["payload"]["override_settings"] == {
        "sd_model_checkpoint": "no-such-model"
    }


def test_model_override_swaps_and_sticks(sim):
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64,
                          override_settings={"sd_model_checkpoint": "sd_xl_base_1.0"})  # fmt: skip
    assert info["sd_model_name"] == "sd_xl_base_1.0"
    state = sim.get("/sim/state").json()
    assert state["loaded_checkpoint"].startswith("sd_xl_base_1.0.safetensors [")
    assert sim.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("animefull_final")
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64)
    assert info["sd_model_name"] == "animefull_final"
    sha = next(m for m in sim.get("/sdapi/v1/sd-models").json() if "pony" in m["title"])["sha256"]
    for alias in (sha, sha[:10], "SDXL_ponyDiffusionV6XL", "ponyDiffusionV6XL",
                  "SDXL/ponyDiffusionV6XL.safetensors"):  # fmt: skip
        _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64,
                              override_settings={"sd_model_checkpoint": alias})  # fmt: skip
        assert info["sd_model_name"] == "ponyDiffusionV6XL", alias
    _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64,
                          override_settings={"sd_vae": "vae-ft-mse-840000-ema-pruned.safetensors",
                                             "CLIP_stop_at_last_layers": 2})  # fmt: skip
    assert (
        info["sd_vae_name"] == "vae-ft-mse-840000-ema-pruned.safetensors" and info["clip_skip"] == 2
    )
    assert "Clip skip: 2" in info["infotexts"][0] and "VAE: vae-ft-mse" in info["infotexts"][0]
    r = sim.post("/sdapi/v1/txt2img", {"steps": 1, "override_settings": {"no_such_option": 1}})
    assert r.status_code == 500 and r.json()["error"] == "KeyError"


def test_options_post(sim):
    assert (
        sim.post("/sdapi/v1/options", {"sd_model_checkpoint": "v1-5-pruned-emaonly"}).json() is None
    )
    opts = sim.get("/sdapi/v1/options").json()
    assert opts["sd_model_checkpoint"].startswith("v1-5-pruned-emaonly.safetensors [")
    assert sim.get("/sim/state").json()["loaded_checkpoint"] == opts["sd_model_checkpoint"]
    r = sim.post("/sdapi/v1/options", {"sd_model_checkpoint": "animefull"})
    assert r.status_code == 500
    assert r.json() == {
        "error": "RuntimeError",
        "detail": "",
        "body": "",
        "errors": "model 'animefull' not found",
    }
    r = sim.post("/sdapi/v1/options", {"not_an_option": True})
    assert r.status_code == 500 and r.json()["error"] == "KeyError"
    assert sim.post("/sdapi/v1/options", {"samples_format": "jpg"}).status_code == 200
    data, _ = sim.txt2img(prompt="x", steps=1, width=64, height=64)
    assert decode(data["images"][0]).format == "JPEG"


def test_request_validation(sim):
    r = sim.post("/sdapi/v1/txt2img", {"steps": "twenty", "width": 1.5, "restore_faces": "maybe",
                                       "styles": "notalist", "prompt": {"a": 1}})  # fmt: skip
    assert r.status_code == 422
    assert shape_errors(r.json(), {"$ref": "#/components/schemas/HTTPValidationError"}) == []
    got = {e["loc"][1]: e["type"] for e in r.json()["detail"]}
    assert got == {"steps": "type_error.integer", "restore_faces": "type_error.bool",
                   "styles": "type_error.list", "prompt": "type_error.str"}  # fmt: skip
    ok = sim.post("/sdapi/v1/txt2img", {"steps": "2", "width": 64.9, "height": "64",
                                        "restore_faces": "yes", "prompt": 5, "unknown": 1})  # fmt: skip
    assert ok.status_code == 200
    params = ok.json()["parameters"]
    assert params["steps"] == 2 and params["width"] == 64 and params["prompt"] == "5"
    assert params["restore_faces"] is True and "unknown" not in params
    bad = sim.http.post(sim.url + "/sdapi/v1/txt2img", data=b"{not json",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "value_error.jsondecode"


def test_scripts_errors(sim):
    r = sim.post("/sdapi/v1/txt2img", {"script_name": "nope"})
    assert r.status_code == 422 and r.json()["detail"] == "Script 'nope' not found"
    r = sim.post("/sdapi/v1/txt2img", {"alwayson_scripts": {"nope": {"args": []}}})
    assert r.json()["detail"] == "Script 'nope' not found"  # api.get_script raises first
    r = sim.post("/sdapi/v1/txt2img", {"alwayson_scripts": {"X/Y/Z plot": {"args": []}}})
    assert r.json()["detail"] == "Cannot have a selectable script in the always on scripts params"
    assert (
        sim.post("/sdapi/v1/txt2img", {"steps": 1, "script_name": "X/Y/Z Plot"}).status_code == 200
    )


def test_img2img(sim):
    r = sim.post("/sdapi/v1/img2img", {"prompt": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": "HTTPException", "detail": "Init image not found", "body": "",
                        "errors": ""}  # fmt: skip
    r = sim.post("/sdapi/v1/img2img", {"init_images": ["@@notbase64@@"], "steps": 1})
    assert r.status_code == 500 and r.json()["detail"] == "Invalid encoded image"
    init = test_image(128, 128)
    r = sim.post(
        "/sdapi/v1/img2img", {"init_images": [encode(init)] * 3, "batch_size": 2, "steps": 1}
    )
    assert r.status_code == 500 and r.json()["error"] == "RuntimeError"
    r = sim.post("/sdapi/v1/img2img", {"init_images": [encode(init)], "steps": 4, "width": 128,
                                       "height": 128, "denoising_strength": 0.3, "seed": 1})  # fmt: skip
    assert r.status_code == 200
    out = decode(r.json()["images"][0])
    assert out.size == (128, 128) and r.json()["parameters"]["init_images"] is None
    alone, _ = sim.txt2img(prompt="", steps=1, width=128, height=128, seed=1)
    assert mean_diff(out, init) < mean_diff(decode(alone["images"][0]), init)
    assert sim.history()[-2]["payload"]["init_images"][0].startswith("<b64 ")
    mask = init.convert("L").point(lambda v: 0)
    mask.paste(255, (64, 0, 128, 128))
    r = sim.post("/sdapi/v1/img2img", {"init_images": [encode(init)], "mask": encode(mask),
                                       "mask_blur": 0, "steps": 1, "width": 128, "height": 128,
                                       "denoising_strength": 1.0, "include_init_images": True})  # fmt: skip
    out = decode(r.json()["images"][0])
    assert mean_diff(out.crop((0, 0, 60, 128)), init.crop((0, 0, 60, 128))) < 1
    assert mean_diff(out.crop((68, 0, 128, 128)), init.crop((68, 0, 128, 128))) > 10
    # no blur, no "Mask blur" (img2img.init writes it only for a blur above 0)
    assert r.json()["parameters"]["init_images"] and "Mask blur" not in r.json()["info"]


def test_loras_in_prompt(sim):
    _, info = sim.txt2img(prompt="girl <lora:character_lora:0.8> <lora:missing_one:1> <lora:add_detail>",
                          steps=1, width=64, height=64)  # fmt: skip
    hashes = info["extra_generation_params"]["Lora hashes"]
    names = [h.split(": ")[0] for h in hashes.split(", ")]
    assert names == ["character_lora", "add_detail"]
    assert all(len(h.split(": ")[1]) == 12 for h in hashes.split(", "))
    assert info["prompt"].startswith("girl <lora:character_lora:0.8>")
    assert 'Lora hashes: "character_lora: ' in info["infotexts"][0]
    _, info = sim.txt2img(prompt="<lora:Character_Lora:1>", steps=1, width=64, height=64)
    assert "Lora hashes" not in info["extra_generation_params"]
    # a weight that does not parse: no LoRA at all (test_sim_source_pins)
    r = sim.post("/sdapi/v1/txt2img", {"prompt": "<lora:style_lora:abc>", "steps": 1})
    assert r.status_code == 200 and "Lora hashes" not in r.json()["info"]


def test_png_info_roundtrip(sim):
    data, _ = sim.txt2img(prompt="a, b", negative_prompt="c", seed=3, steps=4, width=64, height=80)
    r = sim.post("/sdapi/v1/png-info", {"image": data["images"][0]})
    assert shape_errors(r.json(), response_schema("post", "/sdapi/v1/png-info")) == []
    p = r.json()["parameters"]
    assert p["Prompt"] == "a, b" and p["Negative prompt"] == "c" and p["Seed"] == "3"
    assert p["Size-1"] == "64" and p["Size-2"] == "80" and r.json()["info"].startswith("a, b\n")


def test_api_auth(make_sim):
    sim = make_sim(api_auth="alice:secret,bob:pw")
    r = sim.get("/sdapi/v1/sd-models")
    assert r.status_code == 401
    assert r.json() == {"error": "HTTPException", "detail": "Not authenticated", "body": "",
                        "errors": ""}  # fmt: skip
    r = sim.get("/sdapi/v1/sd-models", auth=("alice", "wrong"))
    assert r.status_code == 401 and r.json()["detail"] == "Incorrect username or password"
    assert sim.get("/sdapi/v1/sd-models", auth=("bob", "pw")).status_code == 200
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1}).status_code == 401
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1}, auth=("alice", "secret")).status_code == 200
    for path in (
        "/sdapi/v1/loras",
        "/controlnet/model_list",
        "/internal/pending-tasks",
        "/sim/state",
    ):
        assert sim.get(path).status_code == 200, path
    assert sim.post("/sdapi/v1/refresh-loras").status_code == 200


def test_keep_alive_and_cli_interface():
    server = start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0))
    try:
        session = requests.Session()
        for _ in range(3):
            assert session.get(server.url + "/sdapi/v1/samplers").status_code == 200
        assert server.url == f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
