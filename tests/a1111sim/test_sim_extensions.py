"""ControlNet units and /controlnet/detect, Regional Prompter, and the LoRA listing."""

from __future__ import annotations

import json

from simhelpers import decode, encode, mean_diff, test_image

CN_BASE = {"prompt": "pose", "steps": 1, "width": 128, "height": 128, "seed": 1}


def _cn(sim, *units, route="/sdapi/v1/txt2img", **body):
    payload = {**CN_BASE, **body, "alwayson_scripts": {"ControlNet": {"args": list(units)}}}
    return sim.post(route, payload)


def test_controlnet_unit_adds_detected_map_and_params(sim):
    pose = encode(test_image(128, 128))
    unit = {"enabled": True, "module": "openpose_full", "model": "control_openpose-fp16",
            "weight": 1.0, "image": pose, "resize_mode": "Crop and Resize"}  # fmt: skip
    r = _cn(sim, unit)
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    assert (
        len(r.json()["images"]) == 2 and len(info["all_seeds"]) == 1 and len(info["infotexts"]) == 1
    )
    assert info["extra_generation_params"]["ControlNet 0"].startswith(
        "Module: openpose_full, Model: control_openpose-fp16, Weight: 1.0"
    )
    detected = decode(r.json()["images"][1])
    assert detected.size == (128, 128)
    plain = decode(sim.post("/sdapi/v1/txt2img", CN_BASE).json()["images"][0])
    assert mean_diff(decode(r.json()["images"][0]), plain) > 1
    r = _cn(sim, {**unit, "save_detected_map": False}, {**unit, "enabled": False})
    assert len(r.json()["images"]) == 1
    assert sim.history()[-1]["payload"]["alwayson_scripts"]["ControlNet"]["args"][0][
        "image"
    ].startswith("<b64")


def test_controlnet_unit_count_limit_and_img2img_fallback(sim):
    img = encode(test_image(128, 128))
    unit = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    r = _cn(sim, unit, unit, unit, {**unit, "module": "bogus"}, unit)
    assert r.status_code == 200 and len(r.json()["images"]) == 1 + 3
    r = _cn(sim, {"enabled": True, "module": "depth_midas", "model": "control_v11f1p_sd15_depth"},
            route="/sdapi/v1/img2img", init_images=[img])  # fmt: skip
    assert r.status_code == 200 and len(r.json()["images"]) == 2


def test_controlnet_validation_errors(sim):
    img = encode(test_image(64, 64))
    cases = [
        ({"enabled": True, "module": "nope", "model": "control_v11p_sd15_canny", "image": img}, "ValidationError", "module(nope)"),
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img, "weight": 2.5},
         "ValidationError", "less than or equal to 2"),
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img, "resize_mode": 1},
         "ValidationError", "resize_mode"),
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img, "control_mode": 0},
         "ValidationError", "control_mode"),
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img, "guidance_start": 0.8,
          "guidance_end": 0.2}, "ValidationError", "guidance_start(0.8) > guidance_end(0.2)"),
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img, "input_image": img},
         "AssertionError", "Conflict of field 'input_image' and 'image'"),
        ({"enabled": False, "module": "canny", "weight": 9}, "ValidationError", "weight"),
        # "canny" tells no SD version (check_sd_version_compatible skips it) but loads the shortest
        # stem containing it, the SDXL model: it fails in the UNet during sampling (inferred)
        ({"enabled": True, "module": "canny", "model": "canny", "image": img}, "RuntimeError",
         "mat1 and mat2 shapes cannot be multiplied"),
    ]  # fmt: skip
    for unit, error, text in cases:
        r = _cn(sim, unit)
        assert r.status_code == 500, unit
        assert r.json()["error"] == error and text in r.json()["errors"], r.json()
    # runtime failures (model not found, no input image) are silent: see test_sim_source_pins
    ok = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img,
          "resize_mode": "Inner Fit (Scale to Fit)", "control_mode": "ControlNet is more important",
          "guidance": 0.5, "lowvram": True, "processor_res": 64}  # fmt: skip
    assert _cn(sim, ok).status_code == 200


def test_controlnet_detect(sim):
    img = encode(test_image(200, 100))
    r = sim.post("/controlnet/detect", {"controlnet_module": "canny", "controlnet_input_images": [img],
                                        "controlnet_processor_res": 64})  # fmt: skip
    assert r.status_code == 200 and r.json()["info"] == "Success"
    edges = decode(r.json()["images"][0])
    assert edges.size == (128, 64) and edges.convert("L").getextrema() == (0, 255)
    r = sim.post(
        "/controlnet/detect",
        {"controlnet_module": "openpose_full", "controlnet_input_images": [img]},
    )
    assert r.json()["poses"][0]["people"][0]["pose_keypoints_2d"]
    depth = sim.post("/controlnet/detect", {"controlnet_module": "depth_midas",
                                            "controlnet_input_images": [img]}).json()  # fmt: skip
    assert decode(depth["images"][0]).size == (1024, 512)
    for body, detail in (
        ({"controlnet_module": "nope", "controlnet_input_images": [img]}, "Module not available"),
        ({"controlnet_module": "canny"}, "No image selected"),
        (
            {"controlnet_module": "ip-adapter-auto", "controlnet_input_images": [img]},
            "Module not supported",
        ),
    ):
        r = sim.post("/controlnet/detect", body)
        assert r.status_code == 422 and r.json()["detail"] == detail


def _rp(ratios, mode="Columns", active=True):
    return {
        "Regional Prompter": {
            "args": [active, False, "Matrix", mode, "Mask", "Prompt", ratios, "0.2"]
        }
    }


def test_regional_prompter_split(sim):
    body = {"prompt": "tavern ADDCOMM knight BREAK fireplace BREAK bard", "steps": 1, "width": 192,
            "height": 64, "seed": 3}  # fmt: skip
    r = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp("1,1,1")})
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    extra = info["extra_generation_params"]
    assert extra["RP Active"] is True and extra["RP Divide mode"] == "Matrix"
    assert extra["RP Matrix submode"] == "Columns" and extra["RP Ratios"] == "1,1,1"
    assert extra["RP Base Ratios"] == "0.2" and extra["RP Calc Mode"] == "Attention"
    img = decode(r.json()["images"][0])
    thirds = [img.crop((x, 8, x + 48, 56)).resize((1, 1)).getpixel((0, 0)) for x in (8, 72, 136)]
    assert len(set(thirds)) == 3
    # attention.py matsepcalc indexes chunk i per ratio cell: surplus chunks are unused (200),
    # too few chunks is tll[i] out of range (500 IndexError).
    assert (
        sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp("1,1")}).status_code == 200
    )
    r = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp("1,1,1,1")})
    assert r.status_code == 500
    assert r.json()["error"] == "IndexError" and r.json()["errors"] == "list index out of range"
    rows = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp("1;1;1", mode="Rows")})
    assert rows.status_code == 200 or rows.json()["error"] == "IndexError"
    plain = sim.post("/sdapi/v1/txt2img", {**body, "prompt": "no keywords",
                                            "alwayson_scripts": _rp("1,1")})  # fmt: skip
    assert "RP Active" not in json.loads(plain.json()["info"])["extra_generation_params"]
    off = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp("1,1", active=False)})
    assert off.status_code == 200


def test_regional_prompter_2d(sim):
    body = {"prompt": "a ADDCOL b ADDROW c ADDCOL d ADDCOL e", "steps": 1, "width": 128, "height": 128,
            "alwayson_scripts": _rp("1,1,1;2,1,1,1")}  # fmt: skip
    assert sim.post("/sdapi/v1/txt2img", body).status_code == 200
    body["alwayson_scripts"] = _rp("1,1,1;2,1,1")  # 4 cells, 5 chunks: the last is unused
    assert sim.post("/sdapi/v1/txt2img", body).status_code == 200
    body["alwayson_scripts"] = _rp("1,1,1;2,1,1,1,1")  # 6 cells, 5 chunks
    assert sim.post("/sdapi/v1/txt2img", body).json()["error"] == "IndexError"


def test_lora_listing(sim, lora_dir):
    loras = {entry["name"]: entry for entry in sim.get("/sdapi/v1/loras").json()}
    assert {
        "character_lora",
        "style_lora",
        "anime_style_v2",
        "detail_tweaker",
        "broken",
        "legacy",
    } <= set(loras)
    char = loras["character_lora"]
    assert char["alias"] == "character_lora" and char["path"].endswith("character_lora.safetensors")
    meta = char["metadata"]
    assert list(meta)[:5] == ["ss_sd_model_name", "ss_resolution", "ss_clip_skip", "ss_num_train_images",
                              "ss_tag_frequency"]  # fmt: skip
    assert isinstance(meta["ss_tag_frequency"], dict) and meta["ss_base_model_version"] == "sd_v1"
    assert loras["detail_tweaker"]["alias"] == "add_detail"
    # Lora/network.py NetworkOnDisk catches any metadata read error: listed, metadata {}, alias = stem
    assert loras["broken"]["metadata"] == {} and loras["legacy"]["metadata"] == {}
    assert loras["broken"]["alias"] == "broken"
    (lora_dir / "sub").mkdir(exist_ok=True)
    (lora_dir / "sub" / "new_one.safetensors").write_bytes(
        (len(b'{"__metadata__":{"ss_output_name":"fresh"}}')).to_bytes(8, "little")
        + b'{"__metadata__":{"ss_output_name":"fresh"}}'
    )
    assert "new_one" not in {e["name"] for e in sim.get("/sdapi/v1/loras").json()}
    assert sim.post("/sdapi/v1/refresh-loras").json() is None
    fresh = next(e for e in sim.get("/sdapi/v1/loras").json() if e["name"] == "new_one")
    assert fresh["alias"] == "fresh"
    _, info = sim.txt2img(prompt="<lora:fresh:1>", steps=1, width=64, height=64)
    assert info["extra_generation_params"]["Lora hashes"].startswith("fresh: ")
