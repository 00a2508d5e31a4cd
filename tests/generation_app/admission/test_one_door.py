"""Every create endpoint goes through one door: the same script check and the same
Idempotency-Key rule, whatever the kind of job (over HTTP, against a1111sim)."""

from __future__ import annotations

import base64
import io
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from generation_app.models import Job, JobGroup


def png_b64(size=(64, 64)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


IMAGE = png_b64()
# One valid body per create endpoint (user "u").
CREATE_BODIES = {
    "/generate/txt2img": {"user_id": "u", "prompt": "a lighthouse", "steps": 2},
    "/generate/img2img": {"user_id": "u", "prompt": "a lighthouse", "init_images": [IMAGE]},
    "/generate/outpaint": {"user_id": "u", "prompt": "sea", "image": IMAGE, "left": 64},
    "/generate/controlnet": {
        "user_id": "u",
        "prompt": "a portrait",
        "image": IMAGE,
        "controlnet_units": [{"model": "control_openpose-fp16", "preprocessor": "openpose_full"}],
    },
    "/generate/regional": {
        "user_id": "u",
        "prompt": "a tavern",
        "regional_config": {"layout": "two_columns", "region1_prompt": "a", "region2_prompt": "b"},
    },
    "/generate/sweep": {
        "user_id": "u",
        "base": {"prompt": "a lighthouse", "steps": 2},
        "axes": [{"field": "seed", "values": [1, 2]}],
    },
    "/upscale": {"user_id": "u", "image": IMAGE, "upscaler_1": "Lanczos"},
}
SCRIPT_FIELDS = [
    {"script_name": "prompt matrix"},
    {"script_args": [1]},
    {"alwayson_scripts": {"dynamic prompts": {"args": []}}},
]


def with_scripts(path: str, fields: dict) -> dict:
    body = dict(CREATE_BODIES[path])
    if path == "/generate/sweep":
        return {**body, "base": {**body["base"], **fields}}
    return {**body, **fields}


@pytest.mark.parametrize("fields", SCRIPT_FIELDS, ids=lambda f: next(iter(f)))
@pytest.mark.parametrize("path", list(CREATE_BODIES))
def test_a_user_key_sending_scripts_to_any_create_endpoint_gets_403(
    user_api, backend, path, fields
):
    response = user_api("u").post(path, with_scripts(path, fields), format="json")
    assert response.status_code == 403, response.content
    assert "service keys only" in response.json()["detail"]
    assert Job.objects.count() == 0 and JobGroup.objects.count() == 0


@pytest.mark.parametrize("path", list(CREATE_BODIES))
def test_each_create_endpoint_takes_its_body_from_a_user_key(user_api, backend, path):
    """The same bodies without scripts are accepted: the 403 above is the scripts' doing."""
    response = user_api("u").post(path, CREATE_BODIES[path], format="json")
    assert response.status_code == 202, response.content


def test_a_service_key_sending_scripts_to_upscale_is_told_they_do_not_apply(api, backend):
    response = api.post("/upscale", with_scripts("/upscale", SCRIPT_FIELDS[0]), format="json")
    assert response.status_code == 400, response.content
    assert "script_name" in response.json()["fields"]
    assert Job.objects.count() == 0


def _created_id(body: dict) -> str:
    return body.get("job_id") or body["sweep_id"]


@pytest.mark.parametrize("path", list(CREATE_BODIES))
def test_eight_racing_retries_with_one_idempotency_key_give_one_job(
    live_server, service_key, backend, path, settings
):
    settings.HUB_GENERATION_RATE_LIMIT = "1000/min"
    key = f"retry-{uuid.uuid4()}"

    def send(_):
        return requests.post(
            f"{live_server.url}{path}",
            json=CREATE_BODIES[path],
            headers={"X-API-Key": service_key, "Idempotency-Key": key},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [202], [r.text for r in responses]
    assert len({_created_id(r.json()) for r in responses}) == 1
    if path == "/generate/sweep":
        assert JobGroup.objects.count() == 1
        assert Job.objects.count() == 2  # its two cells, once
    else:
        assert Job.objects.count() == 1


def test_a_replayed_sweep_is_the_first_one(api, backend):
    body = CREATE_BODIES["/generate/sweep"]
    first = api.post("/generate/sweep", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    again = api.post("/generate/sweep", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["sweep_id"] == again.json()["sweep_id"]
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("path", ["/upscale", "/generate/sweep"])
def test_an_idempotency_key_reused_for_another_body_is_422_everywhere(api, backend, path):
    body = CREATE_BODIES[path]
    assert api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    other = (
        {**body, "base": {**body["base"], "prompt": "another lighthouse"}}
        if path == "/generate/sweep"
        else {**body, "upscaler_1": "Nearest"}
    )
    response = api.post(path, other, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "idempotency_key_reused"


def test_a_key_used_for_a_sweep_is_not_taken_for_a_job(api, backend):
    sweep = api.post(
        "/generate/sweep", CREATE_BODIES["/generate/sweep"], format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert sweep.status_code == 202
    response = api.post(
        "/generate/txt2img", CREATE_BODIES["/generate/txt2img"], format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )  # fmt: skip
    assert response.status_code == 422 and response.json()["job_id"] == sweep.json()["sweep_id"]
