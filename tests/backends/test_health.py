from __future__ import annotations

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient

from backends.models import Backend

pytestmark = pytest.mark.django_db


def keyed() -> APIClient:
    from core.models import ApiKey

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.generate('monitor')[1]}")
    return client


def test_health_reports_database_queue_and_a_reachable_simulator(backend):
    response = keyed().get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["queue"]["reachable"] is True
    assert isinstance(body["queue"]["queue_depth"], int)
    (report,) = body["backends"]
    assert report["url"] == backend.url
    assert report["reachable"] is True
    assert report["response_ms"] >= 0
    assert report["loaded_checkpoint"].startswith("animefull_final.safetensors")
    assert report["busy"] is False
    assert report["is_simulator"] is True
    assert body["simulator"] is True and "a1111sim" in body["warning"]
    backend.refresh_from_db()
    assert backend.healthy and backend.is_simulator


def test_health_is_503_with_the_same_shape_when_no_backend_answers(db, unused_port):
    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    response = keyed().get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    (report,) = body["backends"]
    assert report["reachable"] is False
    assert "Is A1111 running with --api" in report["error"]
    assert Backend.objects.get().healthy is False


def test_health_says_what_to_do_when_a1111_wants_credentials(db, sim_lora_dir):
    from a1111sim.server import SimConfig, start_in_thread

    locked = start_in_thread(SimConfig(port=0, step_ms=0, api_auth="hub:s3cret"))
    try:
        Backend.objects.create(url=locked.url)
        client = keyed()
        report = client.get("/health").json()["backends"][0]
        assert report["reachable"] is False
        assert "A1111_AUTH" in report["error"]

        Backend.objects.update(auth="hub:s3cret")
        cache.clear()  # the probe's answer is kept a few seconds
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["backends"][0]["reachable"] is True
    finally:
        locked.shutdown()


def test_health_without_a_key_calls_no_backend_and_writes_nothing(backend, sim):
    """Liveness for a load balancer: the backends as last probed, nothing asked now."""
    requests.post(f"{sim.url}/sim/reset", timeout=5)
    before = requests.get(f"{sim.url}/sim/state", timeout=5).json()["requests"]  # {} after reset
    Backend.objects.filter(pk=backend.pk).update(healthy=True, last_error="")
    for _ in range(5):
        response = APIClient().get("/health")
        assert response.status_code == 200 and response.json()["probed"] is False
    assert requests.get(f"{sim.url}/sim/state", timeout=5).json()["requests"] == before
    backend.refresh_from_db()
    assert backend.last_checked_at is None  # no write


def test_health_without_a_key_shows_the_status_only(backend):
    """No backend URL, loaded checkpoint or queue depth for whoever asks without a key."""
    Backend.objects.filter(pk=backend.pk).update(healthy=True, loaded_checkpoint="secret.ckpt")
    body = APIClient().get("/health").json()
    assert set(body) <= {"status", "time", "probed", "simulator", "warning"}
    assert backend.url not in str(body) and "secret.ckpt" not in str(body)
    assert set(keyed().get("/health").json()) >= {"backends", "queue", "database"}


def test_a_slow_options_route_does_not_make_a_backend_unhealthy(backend, sim):
    """sim fault hang_seconds on /sdapi/v1/options (A1111 loading a model): still healthy."""
    requests.post(
        f"{sim.url}/sim/faults",
        json={"hang_seconds": 6, "routes": ["/sdapi/v1/options"], "count": 1},
        timeout=5,
    )
    body = keyed().get("/health").json()
    (report,) = body["backends"]
    assert report["reachable"] is True and "slow" in report["error"]
    backend.refresh_from_db()
    assert backend.healthy is True
