"""POST /upscale: A1111's extras as a job, against a1111sim over HTTP.

Fields and bounds are A1111's ``ExtrasSingleImageRequest`` (``modules/api/models.py``:
``upscaling_resize`` 1..8, ``resize_mode`` 0 = scale by, 1 = scale to); the size is
``int(w * scale)`` rounded down to a multiple of 8 (``modules/upscaler.py``
``Upscaler.upscale``); an unknown upscaler is an ``AssertionError`` (500) in
``scripts/postprocessing_upscale.py``, which the hub turns into a 400 first.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from generation_app.models import Job


def _png(width: int = 100, height: int = 60) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _result_image(api, job_id: str) -> Image.Image:
    result = api.get(f"/jobs/{job_id}/result").json()
    assert len(result["images"]) == 1
    return Image.open(io.BytesIO(base64.b64decode(result["images"][0])))


def test_an_upload_is_upscaled_as_a_job(api, backend, cluster, sim) -> None:
    body = {
        "user_id": "u1", "image": _png(), "upscaler_1": "R-ESRGAN 4x+", "upscaling_resize": 2,
        "codeformer_visibility": 0.5, "codeformer_weight": 0.25,
    }  # fmt: skip
    response = api.post("/upscale", body, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    assert response.json()["kind"] == "upscale" and response.json()["status"] == "queued"
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    image = _result_image(api, job_id)
    assert image.size == (200, 120)
    assert image.info["postprocessing"].startswith("Postprocess upscale by: 2.0")
    assert job_id in {j["job_id"] for j in api.get("/jobs?user_id=u1").json()["results"]}


def test_a_stored_result_multipart_and_target_size(api, backend, cluster) -> None:
    made = api.post(
        "/generate/txt2img",
        {"user_id": "u2", "prompt": "a cat", "steps": 2, "width": 64, "height": 64},
        format="json",
    )
    cluster.drain()
    source = made.json()["job_id"]
    response = api.post(
        "/upscale",
        {"job_id": source, "index": 0, "upscaler_1": "Lanczos", "upscaling_resize_w": 128,
         "upscaling_resize_h": 96},
        format="json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    assert response.json()["user_id"] == "u2"
    cluster.drain()
    assert _result_image(api, response.json()["job_id"]).size == (128, 96)

    upload = io.BytesIO(base64.b64decode(_png(64, 64)))
    upload.name = "in.png"
    response = api.post(
        "/upscale",
        {"user_id": "u2", "image": upload, "upscaler_1": "Nearest", "upscaling_resize": "1.5"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    cluster.drain()
    assert _result_image(api, response.json()["job_id"]).size == (96, 96)


def test_unknown_upscaler_is_a_400_listing_valid_ones(api, backend) -> None:
    body = {"user_id": "u1", "image": _png(), "upscaler_1": "4x-NoSuchModel"}
    response = api.post("/upscale", body, format="json")
    assert response.status_code == 400, response.content
    text = str(response.json())
    assert "4x-NoSuchModel" in text and "R-ESRGAN 4x+" in text and "Latent" not in text
    assert not Job.objects.exists()


def test_sources_and_access(api, backend, user_api) -> None:
    assert api.post("/upscale", {"upscaler_1": "Lanczos"}, format="json").status_code == 400
    missing = {"job_id": "5f0c6c1e-8a8e-4c52-9a39-0b7f0c1f1f7a", "upscaler_1": "Lanczos"}
    assert api.post("/upscale", missing, format="json").status_code == 404
    other = user_api("bob").post(
        "/upscale", {"user_id": "alice", "image": _png(), "upscaler_1": "Lanczos"}, format="json"
    )
    assert other.status_code == 403
    too_big = {"user_id": "u1", "image": _png(4000, 4000), "upscaler_1": "Lanczos",
               "upscaling_resize": 8}  # fmt: skip
    assert api.post("/upscale", too_big, format="json").status_code in (400, 413)
