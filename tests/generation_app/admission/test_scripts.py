"""Scripts and extensions the hub does not know, passed through for service keys, checked
against the backend's /sdapi/v1/scripts and /sdapi/v1/script-info (a1111sim over HTTP)."""

from __future__ import annotations

import pytest
import requests

from generation_app.models import Job

BASE = {"user_id": "u", "prompt": "x", "width": 64, "height": 64, "steps": 2}


def test_a_service_key_may_run_an_installed_script(api, backend, cluster, sim):
    body = {**BASE, "script_name": "X/Y/Z plot", "script_args": [0, "", 0]}
    response = api.post("/generate/txt2img", body)
    assert response.status_code == 202, response.content
    cluster.drain()
    job = Job.objects.get()
    assert job.payload["script_name"] == "X/Y/Z plot" and job.payload["script_args"] == [0, "", 0]
    (sent,) = requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
    assert sent["payload"]["script_name"] == "X/Y/Z plot"


def test_alwayson_scripts_pass_through_beside_the_hubs_own(api, backend):
    body = {**BASE, "alwayson_scripts": {"Seed": {"args": [1, 2]}}}
    assert api.post("/generate/txt2img", body).status_code == 202
    assert Job.objects.get().payload["alwayson_scripts"] == {"Seed": {"args": [1, 2]}}


def test_a_user_key_may_not_run_scripts(user_api, backend):
    alice = user_api("u")
    response = alice.post("/generate/txt2img", {**BASE, "script_name": "x/y/z plot"})
    assert response.status_code == 403 and "service keys only" in response.json()["detail"]


@pytest.mark.parametrize(
    "extra, field, words",
    [
        ({"script_name": "nope"}, "script_name", "No backend has the scripts 'nope'"),
        ({"script_name": "x/y/z plot", "script_args": [0] * 19}, "script_name", "declares 18"),
        ({"alwayson_scripts": {"nope": {"args": []}}}, "alwayson_scripts.nope", "always-on"),
        (
            {"alwayson_scripts": {"ControlNet": {"args": []}}},
            "alwayson_scripts.ControlNet",
            "controlnet_units",
        ),
        ({"script_args": [1]}, "script_args", "Name the script"),
    ],
)
def test_unknown_scripts_and_too_many_args_are_400(api, backend, extra, field, words):
    response = api.post("/generate/txt2img", {**BASE, **extra})
    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()["fields"][field])
    assert not Job.objects.exists()
