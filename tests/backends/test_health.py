from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backends.models import Backend

pytestmark = pytest.mark.django_db


def test_health_reports_database_queue_and_a_reachable_simulator(backend):
    response = APIClient().get("/health")
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
    response = APIClient().get("/health")
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
        report = APIClient().get("/health").json()["backends"][0]
        assert report["reachable"] is False
        assert "A1111_AUTH" in report["error"]

        Backend.objects.update(auth="hub:s3cret")
        response = APIClient().get("/health")
        assert response.status_code == 200
        assert response.json()["backends"][0]["reachable"] is True
    finally:
        locked.shutdown()
