"""The one A1111 client, against a1111sim over real HTTP, for every route the hub uses."""

from __future__ import annotations

import base64
import io
import threading

import pytest
import requests
from PIL import Image

from a1111.client import A1111Client, A1111Error


@pytest.fixture
def client(sim, settings):
    c = A1111Client(sim.url)
    yield c
    c.close()


def _png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_txt2img_returns_pngs_and_decodes_info(client):
    result = client.txt2img(
        {"prompt": "a red fox", "seed": 42, "width": 64, "height": 96, "steps": 2}
    )
    (image,) = result["images"]
    assert _png(image).size == (64, 96)
    assert isinstance(result["info"], dict)  # decoded from A1111's JSON string
    assert result["info"]["all_seeds"] == [42]


def test_img2img_without_init_images_raises_a1111s_404(client):
    with pytest.raises(A1111Error) as caught:
        client.img2img({"prompt": "x"})
    assert caught.value.status == 404
    assert "Init image not found" in caught.value.message
    assert caught.value.url == client.base_url


def test_img2img_returns_an_image_of_the_requested_size(client):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(buffer, "PNG")
    init = base64.b64encode(buffer.getvalue()).decode()
    result = client.img2img({"init_images": [init], "width": 64, "height": 64, "steps": 2})
    assert _png(result["images"][0]).size == (64, 64)


def test_validation_errors_carry_the_field_and_fastapis_message(client):
    with pytest.raises(A1111Error) as caught:
        client.txt2img({"steps": "many"})
    assert caught.value.status == 422
    assert "steps" in caught.value.message


def test_listings(client):
    assert any(m["title"].startswith("animefull_final") for m in client.sd_models())
    assert any(
        v["model_name"] == "vae-ft-mse-840000-ema-pruned.safetensors" for v in client.sd_vae()
    )
    assert "DPM++ 2M" in [s["name"] for s in client.samplers()]
    assert "karras" in [s["name"] for s in client.schedulers()]
    assert "4x-UltraSharp" in [u["name"] for u in client.upscalers()]
    assert "Latent" in [m["name"] for m in client.latent_upscale_modes()]
    assert "loaded" in client.embeddings()
    assert {"character_lora", "style_lora"} <= {lora["name"] for lora in client.loras()}
    assert client.refresh_loras() is None
    assert client.refresh_checkpoints() is None
    assert "ram" in client.memory()
    assert "regional prompter" in client.scripts()["txt2img"]
    assert any(s["name"] == "regional prompter" for s in client.script_info())


def test_options_get_and_set(client):
    client.set_options({"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"})
    assert client.options()["sd_model_checkpoint"].startswith("v1-5-pruned-emaonly.safetensors")
    with pytest.raises(A1111Error) as caught:
        client.set_options({"sd_model_checkpoint": "no-such-model"})
    assert caught.value.status == 500
    assert "not found" in caught.value.message


def test_progress_interrupt_and_skip(client, sim):
    requests.post(f"{sim.url}/sim/faults", json={"step_ms": 20}, timeout=5).raise_for_status()
    done = {}
    worker = threading.Thread(
        target=lambda: done.update(
            result=client.txt2img(
                {"prompt": "slow", "steps": 200, "width": 64, "height": 64, "force_task_id": "t-1"}
            )
        )
    )
    worker.start()
    try:
        for _ in range(200):
            progress = client.progress()
            if progress["state"]["sampling_step"] > 0:
                break
            threading.Event().wait(0.02)
        assert 0 < progress["progress"] <= 1
        assert progress["state"]["sampling_steps"] == 200
        assert client.task_progress("t-1")["active"] is True
        assert client.skip() is None
        client.interrupt()
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert client.progress()["state"]["job_count"] == 0


def test_controlnet_routes(client):
    assert client.controlnet_version() == 3
    assert "control_openpose-fp16 [9ca67cc5]" in client.controlnet_model_list()
    modules = client.controlnet_module_list()
    assert "openpose_full" in modules["module_list"]
    assert "canny" in modules["module_detail"]
    assert client.controlnet_settings()["control_net_unit_count"] == 3
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, "PNG")
    detected = client.controlnet_detect(
        {
            "controlnet_module": "canny",
            "controlnet_input_images": [base64.b64encode(buffer.getvalue()).decode()],
        }
    )
    assert detected["info"] == "Success" and len(detected["images"]) == 1


def test_an_unreachable_backend_raises_with_no_status(unused_port):
    client = A1111Client(f"http://127.0.0.1:{unused_port}", connect_timeout=0.5)
    with pytest.raises(A1111Error) as caught:
        client.sd_models()
    assert caught.value.status is None and caught.value.unreachable


def test_the_proxy_settings_of_the_environment_still_apply(sim, unused_port, monkeypatch):
    """requests reads them once per client now, not per call: a proxy named in the
    environment is still used (here one that is down, so the call fails) unless NO_PROXY
    names the backend's host."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(A1111Error) as caught:
        A1111Client(sim.url, connect_timeout=0.5, connect_retries=0).sd_models()
    assert caught.value.unreachable
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert A1111Client(sim.url).sd_models()


def test_basic_auth_is_sent(sim_lora_dir):
    from a1111sim.server import SimConfig, start_in_thread

    locked = start_in_thread(SimConfig(port=0, step_ms=0, api_auth="hub:s3cret"))
    try:
        with pytest.raises(A1111Error) as caught:
            A1111Client(locked.url, auth="").sd_models()
        assert caught.value.status == 401
        assert A1111Client(locked.url, auth="hub:s3cret").sd_models()
    finally:
        locked.shutdown()


def test_a_dropped_connection_on_a_generation_is_not_retried(client, sim):
    requests.post(
        f"{sim.url}/sim/faults",
        json={"drop_connection": True, "routes": ["/sdapi/v1/txt2img"], "count": 1},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(A1111Error) as caught:
        client.txt2img({"prompt": "x", "steps": 1, "width": 64, "height": 64})
    assert caught.value.unreachable
    history = requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
    assert len([h for h in history if h["route"] == "/sdapi/v1/txt2img"]) <= 1
