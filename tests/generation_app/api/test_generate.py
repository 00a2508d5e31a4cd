"""POST /generate/*: a request becomes a job (API -> django-q2 in-process -> a1111sim over HTTP), or a clear refusal before anything is queued."""

from __future__ import annotations

import base64
import io

import pytest
import requests
from jobhelpers import BRIEF_REQUEST, decode, png_b64, sim_history, submit

from generation_app.models import BackendLease, Job
from loras_app.models import Lora


def test_the_brief_request_becomes_a_job_that_completes_with_pngs(api, backend, cluster, sim):
    response = submit(api, BRIEF_REQUEST)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["queue_position"] == 1
    assert body["links"]["result"].endswith(f"/jobs/{body['job_id']}/result")

    assert cluster.drain() == 1
    status = api.get(f"/jobs/{body['job_id']}").json()
    assert status["status"] == "completed", status["message"]
    assert status["progress"] == 1.0 and status["queue_position"] is None
    assert status["backend"] == backend.url

    result = api.get(f"/jobs/{body['job_id']}/result").json()
    (image,) = result["images"]
    assert decode(image).format == "PNG" and decode(image).size == (512, 768)
    (item,) = result["items"]
    assert item["seed"] == result["seeds"][0] != -1
    assert "Steps: 20" in item["infotext"]
    assert api.get(item["url"]).status_code == 200
    assert api.get(item["thumbnail_url"])["Content-Type"] == "image/webp"

    (sent,) = [h for h in sim_history(sim) if h["route"] == "/sdapi/v1/txt2img"]
    payload = sent["payload"]
    assert payload["sampler_name"] == "DPM++ 2M Karras"
    assert payload["override_settings"]["sd_model_checkpoint"].startswith(
        "animefull_final.safetensors ["
    )
    assert payload["force_task_id"] == Job.objects.get().task_id
    assert not BackendLease.objects.exists()


def test_the_session_loras_are_sent_and_a_lora_a1111_ignored_is_flagged(api, backend, cluster, sim):
    Lora.objects.create(
        filename="character_lora.safetensors", name="Character", prompt_name="character_lora"
    )
    Lora.objects.create(filename="ghost.safetensors", name="Ghost", prompt_name="ghost")
    assert api.post(
        "/sessions/user123/loras",
        {"filename": "character_lora.safetensors", "weight": 0.8},
        format="json",
    ).status_code in (200, 201)
    assert api.post(
        "/sessions/user123/loras", {"filename": "ghost.safetensors", "weight": 0.5}, format="json"
    ).status_code in (200, 201)

    job_id = submit(
        api, {"user_id": "user123", "prompt": "portrait", "width": 64, "height": 64}
    ).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed"
    assert "<lora:character_lora:0.8>" in job.payload["prompt"]
    assert "<lora:ghost:0.5>" in job.payload["prompt"]
    assert any(
        "did not apply" in w and "ghost" in w for w in api.get(f"/jobs/{job_id}").json()["warnings"]
    )


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"sampler_name": "DPM++ 9M"}, "sampler_name", "Valid:"),
        ({"checkpoint": "nope.safetensors"}, "checkpoint", "Valid:"),
        ({"width": 500}, "width", "multiple of 8"),
        ({"steps": 0}, "steps", ""),
        ({"batch_size": 8, "batch_count": 8}, "batch_size", "images per request"),
        ({"hr_upscaler": "8x-Imaginary", "enable_hr": True}, "hr_upscaler", "Valid:"),
        ({"user_id": ""}, "user_id", ""),
    ],
)
def test_it_refuses_bad_requests_before_queueing(api, backend, change, field, words):
    response = submit(api, {**BRIEF_REQUEST, **change})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request" and field in body["fields"]
    assert words in " ".join(body["fields"][field])
    assert Job.objects.count() == 0


def test_it_refuses_an_unknown_lora_with_suggestions(api, backend):
    Lora.objects.create(
        filename="character_lora.safetensors", name="Character", prompt_name="character_lora"
    )
    response = submit(
        api, {"user_id": "u", "prompt": "p", "loras": {"charcter_lora.safetensors": 1}}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_lora"
    response = submit(api, {"user_id": "u", "prompt": "p <lora:nobody:1>"})
    assert response.status_code == 400 and "nobody" in response.json()["detail"]


def test_a_user_key_cannot_generate_for_another_user(user_api, backend):
    response = submit(user_api("alice"), {"user_id": "bob", "prompt": "x"})
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_an_idempotency_key_returns_the_first_job(api, backend):
    first = submit(api, {"user_id": "u", "prompt": "x"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = submit(api, {"user_id": "u", "prompt": "x"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["job_id"] == again.json()["job_id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


def test_a_user_with_too_many_active_jobs_gets_429(api, backend, settings):
    settings.HUB_MAX_ACTIVE_JOBS_PER_USER = 2
    for _ in range(2):
        assert submit(api, {"user_id": "u", "prompt": "x"}).status_code == 202
    response = submit(api, {"user_id": "u", "prompt": "x"})
    assert response.status_code == 429 and "limit is 2" in response.json()["detail"]
    assert submit(api, {"user_id": "someone-else", "prompt": "x"}).status_code == 202


def test_img2img_with_base64_and_with_a_multipart_file(api, backend, cluster):
    response = submit(
        api,
        {"user_id": "u", "prompt": "x", "init_images": [png_b64((96, 64))], "steps": 2},
        "/generate/img2img",
    )
    assert response.status_code == 202, response.json()
    upload = io.BytesIO(base64.b64decode(png_b64((64, 64), "red")))
    upload.name = "photo.png"
    multipart = api.post(
        "/generate/img2img",
        {"user_id": "u", "prompt": "y", "init_image": upload, "denoising_strength": "0.5"},
        format="multipart",
    )
    assert multipart.status_code == 202, multipart.json()
    cluster.drain()
    first, second = (Job.objects.get(pk=r.json()["job_id"]) for r in (response, multipart))
    assert first.status == second.status == "completed"
    assert first.images.get().width == 96  # the init image's size is kept
    assert second.payload["denoising_strength"] == 0.5
    assert first.request["init_images"][0].startswith("<image 96x64")  # not stored twice


def test_a_mask_makes_it_inpainting(api, backend, cluster):
    response = submit(
        api,
        {
            "user_id": "u",
            "prompt": "x",
            "init_images": [png_b64()],
            "mask": png_b64(colour="white"),
            "inpainting_fill": 1,
            "inpaint_full_res": True,
        },
        "/generate/img2img",
    )
    assert response.json()["kind"] == "inpaint"
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed" and job.payload["inpainting_fill"] == 1 and job.payload["mask"]


def test_outpaint_pads_the_image_and_builds_the_mask(api, backend, cluster):
    response = submit(
        api,
        {"user_id": "u", "prompt": "x", "image": png_b64((64, 64)), "left": 32, "right": 30},
        "/generate/outpaint",
    )
    assert response.status_code == 202, response.json()
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed"
    assert (job.payload["width"], job.payload["height"]) == (128, 64)  # 30 grows to 32
    mask = decode(job.payload["mask"])
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((64, 32)) == 0
    assert job.images.get().width == 128


def test_outpaint_needs_a_direction(api, backend):
    response = submit(api, {"user_id": "u", "image": png_b64()}, "/generate/outpaint")
    assert response.status_code == 400


def test_images_that_do_not_decode_or_are_too_big_are_refused(api, backend, settings):
    bad = submit(
        api,
        {"user_id": "u", "init_images": [base64.b64encode(b"not an image").decode()]},
        "/generate/img2img",
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_image"
    settings.HUB_MAX_UPLOAD_PIXELS = 100 * 100
    big = submit(api, {"user_id": "u", "init_images": [png_b64((200, 200))]}, "/generate/img2img")
    assert big.status_code == 413 and "pixels" in big.json()["detail"]
    assert Job.objects.count() == 0


def test_hires_fix_and_batches(api, backend, cluster):
    hires = submit(
        api,
        {
            "user_id": "u",
            "prompt": "x",
            "width": 64,
            "height": 64,
            "enable_hr": True,
            "hr_scale": 2,
            "hr_upscaler": "Latent",
        },
    ).json()["job_id"]
    batch = submit(
        api,
        {
            "user_id": "u",
            "prompt": "x",
            "width": 64,
            "height": 64,
            "batch_size": 2,
            "batch_count": 2,
            "seed": 7,
        },
    ).json()["job_id"]
    cluster.drain()
    assert Job.objects.get(pk=hires).images.get().width == 128
    result = api.get(f"/jobs/{batch}/result").json()
    assert len(result["images"]) == 4 and result["seeds"] == [7, 8, 9, 10]


def test_a_checkpoint_switch_is_sent_as_an_override(api, backend, cluster, sim):
    job_id = submit(
        api,
        {
            "user_id": "u",
            "prompt": "x",
            "width": 64,
            "height": 64,
            "checkpoint": "v1-5-pruned-emaonly.safetensors",
        },
    ).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed"
    assert job.info["sd_model_name"] == "v1-5-pruned-emaonly"


def test_use_session_loras_false_leaves_the_session_stack_out(api, backend, cluster):
    Lora.objects.create(
        filename="character_lora.safetensors", name="Character", prompt_name="character_lora"
    )
    Lora.objects.create(filename="style_lora.safetensors", name="Style", prompt_name="style_lora")
    api.post(
        "/sessions/u/loras",
        {"filename": "character_lora.safetensors", "weight": 0.8},
        format="json",
    )
    body = {
        "user_id": "u",
        "prompt": "p",
        "use_session_loras": False,
        "loras": {"style_lora.safetensors": 0.5},
    }
    job_id = submit(api, body).json()["job_id"]
    payload = Job.objects.get(pk=job_id).payload
    assert payload["prompt"] == "p <lora:style_lora:0.5>"
    assert "use_session_loras" not in payload


def test_concurrent_requests_cannot_pass_the_active_job_limit_together(
    live_server, backend, service_key, settings
):
    from concurrent.futures import ThreadPoolExecutor

    settings.HUB_MAX_ACTIVE_JOBS_PER_USER = 2
    headers = {"Authorization": f"Bearer {service_key}"}
    body = {"user_id": "racer", "prompt": "x", "width": 64, "height": 64}

    def post(_):
        return requests.post(
            f"{live_server.url}/generate/txt2img", json=body, headers=headers, timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(post, range(6)))
    assert codes.count(202) == 2 and codes.count(429) == 4
    assert Job.objects.filter(user_id="racer").count() == 2


def test_a_multipart_prompt_that_looks_like_a_list_stays_text(api, backend):
    upload = io.BytesIO(base64.b64decode(png_b64()))
    upload.name = "photo.png"
    body = {"user_id": "u", "prompt": "[masterpiece], {best quality}", "init_image": upload}
    response = api.post("/generate/img2img", body, format="multipart")
    assert response.status_code == 202, response.json()
    assert Job.objects.get().payload["prompt"] == "[masterpiece], {best quality}"


@pytest.mark.parametrize("path", ["/generate/txt2img", "/generate/sweep", "/generate/regional"])
def test_a_user_id_sent_as_a_number_is_a_400_not_coerced_to_text(api, backend, path):
    response = submit(api, {"user_id": 0, "prompt": "x"}, path=path)
    assert response.status_code == 400, response.json()
    assert "user_id" in response.json()["fields"]
