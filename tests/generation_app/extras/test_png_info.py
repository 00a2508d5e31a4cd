"""POST /png-info and presets from an infotext, against a1111sim over HTTP.

A PNG the hub made carries A1111's ``parameters`` chunk (``modules/images.py``
``save_image_with_geninfo``; A1111's ``/sdapi/v1/png-info`` reads the same ``image.info``,
``modules/api/api.py`` ``pnginfoapi``); read back, it is the request that made it.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from generation_app.models import Job
from loras_app.models import Lora

SENT = {
    "prompt": "a lighthouse at dusk, oil painting",
    "negative_prompt": "blurry, lowres",
    "steps": 3,
    "sampler_name": "DPM++ 2M",
    "scheduler": "Karras",
    "cfg_scale": 6.5,
    "seed": 424242,
    "width": 64,
    "height": 96,
    "loras": {"detail_tweaker.safetensors": 0.6},
    "enable_hr": True,
    "hr_scale": 2.0,
    "hr_upscaler": "Latent",
    "hr_second_pass_steps": 2,
    "denoising_strength": 0.55,
}


def _generate(api, cluster, body: dict) -> bytes:
    response = api.post("/generate/txt2img", {"user_id": "u1", **body}, format="json")
    assert response.status_code == 202, response.content
    cluster.drain()
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == "completed", job.message
    result = api.get(f"/jobs/{job.pk}/result").json()
    return base64.b64decode(result["images"][0])


def _title(api, stem: str) -> str:
    titles = [c["title"] for c in api.get("/models").json()["checkpoints"]]
    return next(t for t in titles if t.startswith(stem))


def test_a_png_made_by_the_hub_round_trips_into_the_same_request(api, backend, cluster) -> None:
    Lora.objects.create(
        filename="detail_tweaker.safetensors", name="Detail", alias="add_detail",
        prompt_name="add_detail",
    )  # fmt: skip
    sent = {**SENT, "checkpoint": _title(api, "realisticVision_v51")}
    png = _generate(api, cluster, sent)
    assert Image.open(io.BytesIO(png)).info.get("parameters")

    # multipart upload
    upload = io.BytesIO(png)
    upload.name = "picture.png"
    response = api.post("/png-info", {"image": upload}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["request"] == sent, (body["request"], body["warnings"])
    assert body["kind"] == "txt2img"
    assert not [w for w in body["warnings"] if "not" in w and "carried" not in w]

    # base64 JSON, and the request generates again as it is
    again = api.post("/png-info", {"image": base64.b64encode(png).decode()}, format="json")
    assert again.json()["request"] == sent
    regenerated = api.post(
        "/generate/txt2img", {"user_id": "u1", **again.json()["request"]}, format="json"
    )
    assert regenerated.status_code == 202, regenerated.content


def test_what_the_hub_lacks_is_warned(api, backend) -> None:
    infotext = (
        "a cat <lora:nowhere:0.8>\nSteps: 20, Sampler: Nope Sampler, Schedule type: Karras, "
        "CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 0000000000, Model: mystery, "
        "ADetailer model: face_yolov8n.pt, Version: v1.10.1"
    )
    body = api.post("/png-info", {"infotext": infotext}, format="json").json()
    assert body["request"]["prompt"] == "a cat"
    assert "checkpoint" not in body["request"] and "sampler_name" not in body["request"]
    text = " ".join(body["warnings"])
    assert "'nowhere'" in text and "'mystery'" in text and "Nope Sampler" in text
    assert body["unused"] == {"ADetailer model": "face_yolov8n.pt"}


def test_an_image_without_parameters_and_bad_bodies_are_400(api, backend) -> None:
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, "PNG")
    response = api.post(
        "/png-info", {"image": base64.b64encode(plain.getvalue()).decode()}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"] == "no_parameters"
    assert api.post("/png-info", {}, format="json").status_code == 400
    assert api.post("/png-info", {"image": "not an image"}, format="json").status_code == 400


def test_a_preset_from_an_infotext(api, backend) -> None:
    title = _title(api, "realisticVision_v51")
    infotext = (
        "portrait, soft light\nNegative prompt: ugly\nSteps: 12, Sampler: Euler a, "
        "CFG scale: 5, Seed: 7, Size: 512x768, Model: realisticVision_v51, Version: v1.10.1"
    )
    response = api.post("/presets/u1", {"name": "from png", "infotext": infotext}, format="json")
    assert response.status_code == 201, response.content
    params = response.json()["params"]
    assert params["checkpoint"] == title and params["steps"] == 12
    assert params["prompt"] == "portrait, soft light" and params["width"] == 512
    # fields sent explicitly win over the infotext's
    response = api.post(
        "/presets/u1",
        {"name": "from png 2", "infotext": infotext, "params": {"steps": 30}},
        format="json",
    )
    assert response.json()["params"] == {"steps": 30}
