"""Helpers the scheduling tests share: small jobs, checkpoints, the order jobs started in."""

from __future__ import annotations

import requests

from generation_app.models import Job

ANIME = "animefull_final.safetensors [80b493026b]"


REALISTIC = "realisticVision_v51.safetensors [c4cbeec1db]"


SMALL = {"width": 64, "height": 64, "steps": 4}


def load(sim, title: str) -> None:
    requests.post(f"{sim.url}/sdapi/v1/options", json={"sd_model_checkpoint": title}, timeout=30)


def submit(api, user: str, **extra) -> str:
    response = api.post("/generate/txt2img", {"user_id": user, "prompt": "x", **SMALL, **extra})
    assert response.status_code == 202, response.content
    return response.json()["job_id"]


def started_order(job_ids: list[str]) -> list[str]:
    jobs = Job.objects.filter(pk__in=job_ids).order_by("started_at")
    assert all(j.status == "completed" for j in jobs), [(j.status, j.message) for j in jobs]
    return [str(j.pk) for j in jobs]
