"""The third-party ``webuiapi`` client (0.9.17), unchanged, against the simulator."""

from __future__ import annotations

import threading
import time

import pytest
import webuiapi
from simhelpers import test_image


def test_webuiapi_client(sim):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=sim.server.port, steps=2)
    result = api.txt2img(prompt="cute cat", seed=42, width=128, height=128)
    assert result.image.size == (128, 128) and result.info["seed"] == 42
    assert result.info["sampler_name"] == "Euler a"
    again = api.txt2img(prompt="cute cat", seed=42, width=128, height=128)
    assert again.image.tobytes() == result.image.tobytes()
    out = api.img2img(images=[test_image(128, 128)], prompt="dog", width=128, height=128, seed=1)
    assert out.image.size == (128, 128)
    assert any(m["model_name"] == "animefull_final" for m in api.get_sd_models())
    assert "DPM++ 2M" in [s["name"] for s in api.get_samplers()]
    assert api.get_options()["samples_format"] == "png"
    api.set_options({"sd_model_checkpoint": "realisticVision_v51"})
    assert api.get_options()["sd_model_checkpoint"].startswith("realisticVision_v51.safetensors [")
    assert "state" in api.get_progress() and api.interrupt() == {}
    assert "character_lora" in [x["name"] for x in api.get_loras()]
    assert "control_openpose-fp16 [9ca67cc5]" in api.controlnet_model_list()
    assert "openpose_full" in api.controlnet_module_list() and api.controlnet_version() == 3


def test_webuiapi_controlnet_unit(sim):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=sim.server.port, steps=1)
    unit = webuiapi.ControlNetUnit(image=test_image(128, 128), module="canny",
                                   model="control_v11p_sd15_canny [d14c016b]")  # fmt: skip
    result = api.txt2img(prompt="x", width=128, height=128, controlnet_units=[unit])
    assert len(result.images) == 2
    assert result.info["extra_generation_params"]["ControlNet 0"].startswith("Module: canny")
    # An imageless unit ("image": "") falls back to the init image in img2img only.
    bare = webuiapi.ControlNetUnit(module="depth_midas", model="control_v11f1p_sd15_depth")
    out = api.img2img(images=[test_image(128, 128)], width=128, height=128, controlnet_units=[bare])
    assert len(out.images) == 2
    # In txt2img there is nothing to fall back to: ControlNet's process raises and A1111's
    # ScriptRunner.process swallows it: 200, no unit applied, no detected map.
    out = api.txt2img(prompt="x", width=128, height=128, controlnet_units=[bare])
    assert len(out.images) == 1


def test_webuiapi_detect_uses_the_wrong_field(sim):
    """webuiapi sends ``controlnet_images``; ControlNet reads ``controlnet_input_images``."""
    api = webuiapi.WebUIApi(host="127.0.0.1", port=sim.server.port)
    with pytest.raises(RuntimeError, match="No image selected"):
        api.controlnet_detect([test_image(64, 64)], module="canny")
    r = api.custom_post("controlnet/detect", {"controlnet_module": "canny",
                                              "controlnet_input_images": [webuiapi.raw_b64_img(test_image(64, 64))]})  # fmt: skip
    assert len(r.images) == 1


def test_webuiapi_progress_and_interrupt(make_sim):
    sim = make_sim(step_ms=20)
    api = webuiapi.WebUIApi(host="127.0.0.1", port=sim.server.port, steps=50)
    box = {}
    # webuiapi's txt2img has a mutable ``alwayson_scripts={}`` default that keeps ControlNet
    # units from earlier calls in this process, so pass a fresh dict.
    kwargs = {"prompt": "x", "width": 64, "height": 64, "alwayson_scripts": {}}
    t = threading.Thread(target=lambda: box.setdefault("r", api.txt2img(**kwargs)))
    t.start()
    deadline = time.time() + 5
    while api.get_progress()["state"]["job_count"] == 0 and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    progress = api.get_progress()
    assert 0 < progress["progress"] < 1, progress
    api.interrupt()
    t.join(timeout=5)
    assert len(box["r"].images) == 1
