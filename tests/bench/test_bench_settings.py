"""The benchmarks' settings: the hub's own plus a baseline view (bench.urls), taken up by a
hub started with DJANGO_SETTINGS_MODULE=bench.settings, runhub's children included."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings
from systemhelpers import _start_runhub, _stop_runhub

from generation_app.models import Job


def test_the_hub_serves_its_own_urls_and_the_bench_settings_add_the_baseline_view():
    import bench.settings

    assert settings.ROOT_URLCONF == "a1111hub.urls"
    assert bench.settings.ROOT_URLCONF == "bench.urls"
    assert bench.settings.INSTALLED_APPS == settings.INSTALLED_APPS


@pytest.mark.urls("bench.urls")
def test_the_minimal_view_checks_the_key_and_reads_one_row(api, client):
    job = Job.objects.create(user_id="alice", kind="txt2img", status="queued")
    url = f"/bench/minimal/{job.pk}"
    assert client.get(url).status_code in (401, 403)
    body = api.get(url).json()
    assert body["id"] == str(job.pk) and body["user_id"] == "alice"
    assert body["status"] == "queued"
    assert api.get(f"/jobs/{job.pk}").status_code == 200  # the hub's own URLs stay
    assert api.get("/bench/minimal/00000000-0000-0000-0000-000000000000").status_code == 404


def test_runhub_passes_the_settings_module_to_its_children(tmp_path):
    hub = _start_runhub(tmp_path, "hub_bench_settings", DJANGO_SETTINGS_MODULE="bench.settings")
    try:
        headers = {"Authorization": f"Bearer {hub['key']}"}
        job_id = requests.post(
            f"{hub['base']}/generate/txt2img", headers=headers,
            json={"user_id": "u", "prompt": "x", "width": 64, "height": 64, "steps": 1},
        ).json()["job_id"]  # fmt: skip
        minimal = requests.get(f"{hub['base']}/bench/minimal/{job_id}", headers=headers)
        assert minimal.status_code == 200 and minimal.json()["id"] == job_id
    finally:
        _stop_runhub(hub)
