"""Extras, interrogate, styles, hypernetworks, refiner and ADetailer in the simulator.

Facts come from AUTOMATIC1111 stable-diffusion-webui v1.10 and Bing-su/adetailer; each test
names its source. Response shapes are held against the captured OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from simhelpers import decode, encode, response_schema, shape_errors, test_image


def _single(sim: Any, **body: Any) -> Any:
    return sim.post("/sdapi/v1/extra-single-image", {"image": encode(test_image(100, 60)), **body})


def test_extra_single_image_scale_and_infotext(sim: Any) -> None:
    """modules/api/api.py extras_single_image_api -> postprocessing.run_extras;
    scripts/postprocessing_upscale.py (``Postprocess upscale by``/``upscaler``);
    modules/upscaler.py Upscaler.upscale (size rounded down to a multiple of 8);
    postprocessing_codeformer.py (``CodeFormer visibility``/``weight``)."""
    r = _single(sim, upscaler_1="R-ESRGAN 4x+", upscaling_resize=2, codeformer_visibility=0.5,
                codeformer_weight=0.25)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert shape_errors(body, response_schema("POST", "/sdapi/v1/extra-single-image")) == []
    img = decode(body["image"])
    assert img.size == (200, 120)
    text = img.info["postprocessing"]
    assert text == (
        "Postprocess upscale by: 2.0, Postprocess upscaler: R-ESRGAN 4x+, "
        "CodeFormer visibility: 0.5, CodeFormer weight: 0.25"
    )
    assert body["html_info"] == f"<p>{text}</p>"
    # 1.5 x 100 = 150 -> 144 (// 8 * 8)
    img = decode(_single(sim, upscaler_1="Lanczos", upscaling_resize=1.5).json()["image"])
    assert img.size == (144, 88)


def test_extra_single_image_target_size_crop_and_none(sim: Any) -> None:
    """postprocessing_upscale.py: resize_mode 1 scales to cover the target, crops to it
    (``Postprocess upscale to``, ``Postprocess crop to``); ``upscaler_1`` "None" skips."""
    r = _single(sim, upscaler_1="Lanczos", resize_mode=1, upscaling_resize_w=128,
                upscaling_resize_h=128)  # fmt: skip
    img = decode(r.json()["image"])
    assert img.size == (128, 128)
    assert img.info["postprocessing"].startswith("Postprocess upscale to: 128x128")
    assert "Postprocess crop to: 128x128" in img.info["postprocessing"]
    img = decode(_single(sim).json()["image"])  # default upscaler_1 "None"
    assert img.size == (100, 60) and img.info["postprocessing"] == ""


def test_extra_single_image_errors(sim: Any) -> None:
    """Unknown upscaler: ``assert upscaler1 or (upscaler_1_name is None)`` in
    postprocessing_upscale.py -> 500 AssertionError; models.py constraints -> 422;
    ``""`` image: decode_base64_to_image -> 500 Invalid encoded image."""
    r = _single(sim, upscaler_1="4x-NoSuchModel")
    assert r.status_code == 500
    assert r.json() == {"error": "AssertionError", "detail": "", "body": "",
                        "errors": "could not find upscaler named 4x-NoSuchModel"}  # fmt: skip
    r = _single(sim, upscaler_1="Lanczos", upscaler_2="nope", extras_upscaler_2_visibility=0.5)
    assert r.status_code == 500 and "nope" in r.json()["errors"]
    r = _single(sim, gfpgan_visibility=2, resize_mode=3)
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert locs == {("body", "gfpgan_visibility"), ("body", "resize_mode")}
    r = sim.post("/sdapi/v1/extra-single-image", {"image": ""})
    assert r.status_code == 500 and r.json()["detail"] == "Invalid encoded image"


def test_extra_batch_images_keeps_parameters(sim: Any) -> None:
    """extras_batch_images_api: ``imageList`` of FileData; run_postprocessing copies the
    input's PNG info and adds ``postprocessing`` (api.encode_pil_to_base64 writes every str)."""
    data, _ = sim.txt2img(prompt="a cat", steps=3, width=64, height=64, seed=5)
    r = sim.post("/sdapi/v1/extra-batch-images", {
        "imageList": [{"data": data["images"][0], "name": "a.png"}, {"data": encode(test_image(64, 64)), "name": "b"}],
        "upscaler_1": "Nearest", "upscaling_resize": 2})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert shape_errors(body, response_schema("POST", "/sdapi/v1/extra-batch-images")) == []
    first = decode(body["images"][0])
    assert first.size == (128, 128)
    assert first.info["parameters"].startswith("a cat\nSteps: 3")
    r = sim.post("/sdapi/v1/extra-batch-images", {"upscaler_1": "Nearest"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "imageList"]


def test_interrogate(sim: Any) -> None:
    """api.interrogateapi: ``clip`` or ``deepdanbooru`` (not "deepbooru"), anything else 404
    Model not found; ``image`` null 404 Image not found; response ``{caption}``."""
    data, _ = sim.txt2img(prompt="a red fox in the snow", steps=2, width=64, height=64)
    image = data["images"][0]
    r = sim.post("/sdapi/v1/interrogate", {"image": image})
    assert r.status_code == 200 and "red fox" in r.json()["caption"]
    r = sim.post("/sdapi/v1/interrogate", {"image": image, "model": "deepdanbooru"})
    assert r.status_code == 200 and "fox" in r.json()["caption"].split(", ")
    r = sim.post("/sdapi/v1/interrogate", {"image": image, "model": "deepbooru"})
    assert r.status_code == 404 and r.json()["detail"] == "Model not found"
    r = sim.post("/sdapi/v1/interrogate", {"image": None})
    assert r.status_code == 404 and r.json()["detail"] == "Image not found"


def test_styles_hypernetworks_face_restorers(sim: Any) -> None:
    """get_prompt_styles / get_hypernetworks / get_face_restorers shapes (captured OpenAPI);
    modules/styles.py merge_prompts: ``{prompt}`` placeholder, else appended with ", ";
    unknown style names are ignored."""
    for path in ("prompt-styles", "hypernetworks", "face-restorers"):
        body = sim.get(f"/sdapi/v1/{path}").json()
        assert body and shape_errors(body, response_schema("GET", f"/sdapi/v1/{path}")) == []
    data, info = sim.txt2img(prompt="a cat", steps=2, width=64, height=64,
                             styles=["Cinematic", "Watercolor", "Nope"])  # fmt: skip
    assert (
        info["prompt"]
        == "cinematic still a cat, shallow depth of field, film grain, watercolor painting, soft edges"
    )
    assert info["styles"] == ["Cinematic", "Watercolor", "Nope"]
    assert data["parameters"]["prompt"] == "a cat"  # the request as sent


def test_refiner_infotext_and_unknown(sim: Any) -> None:
    """processing.process_images_inner: an unknown ``refiner_checkpoint`` raises
    ``Exception('Could not find checkpoint with name X')`` (500);
    sd_samplers_common.apply_refiner writes ``Refiner`` (short title) and ``Refiner switch at``
    when the switch happens (step/steps >= switch_at); the refiner stays loaded."""
    _, info = sim.txt2img(prompt="x", steps=10, width=64, height=64,
                          refiner_checkpoint="realisticVision", refiner_switch_at=0.8)  # fmt: skip
    text = info["infotexts"][0]
    assert "Refiner: realisticVision_v51 [" in text and "Refiner switch at: 0.8" in text
    assert sim.get("/sim/state").json()["loaded_checkpoint"].startswith("realisticVision_v51")
    _, info = sim.txt2img(prompt="x", steps=4, width=64, height=64,
                          refiner_checkpoint="realisticVision", refiner_switch_at=1.0)  # fmt: skip
    assert "Refiner" not in info["infotexts"][0]  # never switched
    r = sim.post("/sdapi/v1/txt2img", {"prompt": "x", "steps": 2, "refiner_checkpoint": "nope"})
    assert r.status_code == 500
    assert r.json()["error"] == "Exception"
    assert r.json()["errors"] == "Could not find checkpoint with name nope"


def _ad(*tabs: dict[str, Any], enable: Any = True) -> dict[str, Any]:
    return {"ADetailer": {"args": [enable, False, *tabs]}}


def test_adetailer_routes_and_script(sim: Any, make_sim: Any) -> None:
    """scripts/!adetailer.py add_api_endpoints: /adetailer/v1/version, /ad_model; the script
    title "ADetailer" (lower-cased in /sdapi/v1/scripts); adetailer/ui.py adui: args are
    [ad_enable, ad_skip_img2img, *one dict per tab] (ad_max_models, default 2)."""
    assert sim.get("/adetailer/v1/version").json()["version"]
    models = sim.get("/adetailer/v1/ad_model").json()["ad_model"]
    assert "face_yolov8n.pt" in models and "mediapipe_face_full" in models
    assert "adetailer" in sim.get("/sdapi/v1/scripts").json()["txt2img"]
    info = [s for s in sim.get("/sdapi/v1/script-info").json() if s["name"] == "adetailer"]
    assert len(info[0]["args"]) == 4
    bare = make_sim(adetailer=False)
    assert bare.get("/adetailer/v1/ad_model").status_code == 404
    r = bare.post(
        "/sdapi/v1/txt2img",
        {"prompt": "x", "steps": 1, "alwayson_scripts": _ad({"ad_model": "face_yolov8n.pt"})},
    )
    assert r.status_code == 422 and r.json()["detail"] == "Script 'ADetailer' not found"


def test_adetailer_infotext(sim: Any) -> None:
    """adetailer/args.py ADetailerArgs.extra_params: ALL_ARGS names, defaults popped,
    ``inpaint padding`` only with ``inpaint only masked``, tab n>0 suffixed " 2nd";
    ``ADetailer version`` last; written in Script.process, before ControlNet's params."""
    _, info = sim.txt2img(prompt="a girl", steps=2, width=64, height=64, alwayson_scripts=_ad(
        {"ad_model": "face_yolov8n.pt", "ad_prompt": "smile", "ad_confidence": 0.5},
        {"ad_model": "hand_yolov8n.pt", "ad_inpaint_only_masked": False, "ad_use_steps": True, "ad_steps": 12},
    ))  # fmt: skip
    text = info["infotexts"][0]
    assert (
        "ADetailer model: face_yolov8n.pt, ADetailer prompt: smile, ADetailer confidence: 0.5, "
        "ADetailer dilate erode: 4, ADetailer mask blur: 4, ADetailer denoising strength: 0.4, "
        "ADetailer inpaint only masked: True, ADetailer inpaint padding: 32, "
        "ADetailer model 2nd: hand_yolov8n.pt, ADetailer confidence 2nd: 0.3, "
        "ADetailer dilate erode 2nd: 4, ADetailer mask blur 2nd: 4, "
        "ADetailer denoising strength 2nd: 0.4, ADetailer inpaint only masked 2nd: False, "
        "ADetailer use separate steps 2nd: True, ADetailer steps 2nd: 12, ADetailer version: "
    ) in text
    assert info["extra_generation_params"]["ADetailer model"] == "face_yolov8n.pt"


def test_adetailer_silent_failures(sim: Any) -> None:
    """is_ad_enabled: args[0] False or every ad_model "None" -> off; ADetailerArgs is
    extra=forbid with confloat bounds: a ValidationError raised in Script.process is caught by
    modules/scripts.py ScriptRunner.process -> 200, no ADetailer params."""
    for scripts in (
        _ad({"ad_model": "face_yolov8n.pt"}, enable=False),
        _ad({"ad_model": "None"}),
        _ad({"ad_model": "face_yolov8n.pt", "ad_confidence": 1.5}),
        _ad({"ad_model": "face_yolov8n.pt", "ad_bogus": 1}),
    ):
        _, info = sim.txt2img(prompt="x", steps=1, width=64, height=64, alwayson_scripts=scripts)
        assert "ADetailer" not in info["infotexts"][0], scripts
