"""Refiner, face restorer, styles, hypernetworks and ADetailer on generation requests,
against a1111sim over HTTP (A1111 ignores most unknown names silently: the hub refuses)."""

from __future__ import annotations

import pytest

from backends.models import Backend
from generation_app.models import Job

BASE = {"user_id": "u1", "prompt": "a cat", "steps": 2, "width": 64, "height": 64}


def test_models_lists_the_additions(api, backend) -> None:
    body = api.get("/models").json()
    assert {"CodeFormer", "GFPGAN"} <= {f["name"] for f in body["face_restorers"]}
    assert "Cinematic" in {s["name"] for s in body["styles"]}
    assert body["hypernetworks"] and body["adetailer"]["models"]
    assert body["adetailer"]["tabs"] == 2
    assert Backend.objects.get(pk=backend.pk).capabilities["adetailer"] is True


@pytest.mark.parametrize(
    "field, value, listed",
    [
        ("styles", ["Cinematic", "Nope"], "Valid: Cinematic"),
        ("refiner_checkpoint", "nope", "Unknown refiner checkpoint 'nope'"),
        ("face_restorer", "Nope", "Valid: CodeFormer, GFPGAN"),
    ],
)
def test_unknown_names_are_a_400_listing_valid_ones(api, backend, field, value, listed) -> None:
    response = api.post("/generate/txt2img", {**BASE, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert listed in str(response.json())


def test_payload_carries_refiner_face_restorer_and_adetailer(api, backend) -> None:
    response = api.post("/generate/txt2img", {
        **BASE, "refiner_checkpoint": "realisticVision_v51", "refiner_switch_at": 0.8,
        "restore_faces": True, "face_restorer": "CodeFormer", "codeformer_weight": 0.3,
        "styles": ["Cinematic"],
        "adetailer": [{"ad_model": "face_yolov8n.pt", "ad_prompt": "smile", "ad_confidence": 0.4}],
    }, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job_id"])
    payload = job.payload
    assert payload["refiner_checkpoint"].startswith("realisticVision_v51.safetensors [")
    assert payload["override_settings"]["face_restoration_model"] == "CodeFormer"
    assert payload["override_settings"]["code_former_weight"] == 0.3
    assert payload["styles"] == ["Cinematic"]
    assert payload["alwayson_scripts"]["ADetailer"]["args"][:2] == [True, False]
    assert "adetailer" not in payload and "face_restorer" not in payload
    assert job.needs == ["adetailer"]


@pytest.fixture(scope="module")
def no_adetailer_sim():
    from a1111sim.server import SimConfig, start_in_thread

    server = start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0, adetailer=False))
    yield server
    server.shutdown()


def test_adetailer_without_the_extension_is_409(api, db, no_adetailer_sim) -> None:
    Backend.objects.create(name="bare", url=no_adetailer_sim.url)
    body = {**BASE, "adetailer": [{"ad_model": "face_yolov8n.pt"}]}
    response = api.post("/generate/txt2img", body, format="json")
    assert response.status_code == 409, response.content
    assert "ADetailer" in response.json()["detail"]


def test_scheduler_routes_adetailer_jobs_only_to_backends_that_have_it(db) -> None:
    from django.utils import timezone

    from generation_app.scheduling import rule

    with_it = Backend.objects.create(
        name="a", url="http://127.0.0.1:1", capabilities={"adetailer": True}
    )
    without = Backend.objects.create(name="b", url="http://127.0.0.1:2", capabilities={})
    job = rule.QueuedJob("j", "u", "txt2img", "", 0, timezone.now(), ("adetailer",))
    assert rule.can_run(job, with_it, {}) and not rule.can_run(job, without, {})
    assert "ADetailer" in rule.unrunnable_reason(job, [without], {})
