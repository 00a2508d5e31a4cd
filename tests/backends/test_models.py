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


def test_a_listing_stored_by_another_request_is_seen_at_once(api, backend, sim):
    """Each process keeps the merged catalog between requests; a backend listed again
    (by /models?refresh, a probe, another process on a shared cache) replaces it."""
    import requests

    from backends.catalog import backend_models, models_catalog

    for _ in range(2):  # the second call is answered from this process's copy
        assert models_catalog()["loaded_checkpoint"].startswith("animefull_final")
    requests.post(
        f"{sim.url}/sdapi/v1/options",
        json={"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"},
        timeout=10,
    ).raise_for_status()
    backend_models(backend, refresh=True)  # what another request's refresh does
    assert models_catalog()["loaded_checkpoint"].startswith("v1-5-pruned-emaonly")


def test_a_backend_enabled_in_the_admin_is_in_the_next_catalog(api, backend, sim_lora_dir):
    from a1111sim.server import SimConfig, start_in_thread
    from backends.catalog import models_catalog
    from backends.models import Backend

    assert len(models_catalog()["backends"]) == 1
    other = start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0))
    try:
        Backend.objects.create(name="other", url=other.url)
        assert {b["url"] for b in models_catalog()["backends"]} == {backend.url, other.url}
    finally:
        other.shutdown()


def test_a_failing_backend_is_not_asked_again_by_every_request(api, backend):
    """Listings take turns per process; a backend that just failed is skipped for a few
    seconds, or each request in the line would wait out a hung backend's timeout."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from backends.catalog import models_catalog
    from backends.models import Backend

    asked = []

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Backend.objects.create(name="broken", url=f"http://127.0.0.1:{server.server_port}")
        first = models_catalog()
        assert first["unreachable_backends"] and asked
        calls = len(asked)
        again = models_catalog()
        assert len(asked) == calls  # skipped, with the same error
        assert again["unreachable_backends"] == first["unreachable_backends"]
        models_catalog(refresh=True)  # a refresh asks every backend
        assert len(asked) > calls
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("value", ["null", "", "yes", "1"])
def test_refresh_is_true_or_false_and_nothing_else(api, db, value):
    response = api.get(f"/models?refresh={value}")
    assert response.status_code == 400
    assert response.json()["fields"]["refresh"] == [f'Send "true" or "false", not "{value}".']
