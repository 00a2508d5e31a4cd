from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_models_lists_what_a_generation_form_needs(api, backend):
    response = api.get("/models")
    assert response.status_code == 200
    body = response.json()
    titles = [c["title"] for c in body["checkpoints"]]
    assert any(t.startswith("animefull_final.safetensors") for t in titles)
    assert all({"title", "name", "hash"} <= set(c) for c in body["checkpoints"])
    assert "vae-ft-mse-840000-ema-pruned.safetensors" in [v["name"] for v in body["vaes"]]
    samplers = {s["name"]: s for s in body["samplers"]}
    assert "DPM++ 2M" in samplers and isinstance(samplers["DPM++ 2M"]["aliases"], list)
    assert "Karras" in [s["label"] for s in body["schedulers"]]
    assert "4x-UltraSharp" in [u["name"] for u in body["upscalers"]]
    assert "Latent" in [u["name"] for u in body["upscalers"]]
    assert body["loaded_checkpoint"].startswith("animefull_final.safetensors")
    assert body["lora_count"] >= 2
    assert body["regional_prompter"] is True
    assert "control_openpose-fp16 [9ca67cc5]" in body["controlnet"]["models"]
    assert "openpose_full" in body["controlnet"]["modules"]
    assert body["controlnet"]["unit_count"] == 3


def test_models_are_cached_until_refresh_is_asked(api, backend, sim):
    import requests

    first = api.get("/models").json()
    # Switch the simulator's model behind the hub's back; the cache still answers.
    requests.post(
        f"{sim.url}/sdapi/v1/options",
        json={"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"},
        timeout=10,
    ).raise_for_status()
    assert api.get("/models").json()["loaded_checkpoint"] == first["loaded_checkpoint"]
    refreshed = api.get("/models?refresh=true").json()
    assert refreshed["loaded_checkpoint"].startswith("v1-5-pruned-emaonly.safetensors")


def test_models_is_503_with_advice_when_no_backend_answers(api, db, unused_port):
    from backends.models import Backend

    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    response = api.get("/models")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "backend_unavailable"
    assert "A1111_URL" in body["detail"]
