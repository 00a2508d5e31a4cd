"""Generation jobs end to end: API -> django-q2 (in-process cluster) -> a1111sim over HTTP."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
import requests
from django.core.files.storage import default_storage
from PIL import Image

from backends.models import Backend
from generation_app.models import BackendLease, Job, JobImage
from loras_app.models import Lora

BRIEF_REQUEST = {
    "user_id": "user123",
    "prompt": "beautiful anime girl, detailed face",
    "negative_prompt": "low quality, blurry",
    "checkpoint": "animefull_final.safetensors",
    "width": 512,
    "height": 768,
    "steps": 20,
    "cfg_scale": 7.0,
    "sampler_name": "DPM++ 2M Karras",
}


def png_b64(size=(64, 64), colour="blue", fmt="PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def sim_faults(sim, **faults) -> None:
    requests.post(f"{sim.url}/sim/faults", json=faults, timeout=5).raise_for_status()


def sim_history(sim) -> list[dict]:
    return requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]


def submit(api, body: dict, path: str = "/generate/txt2img", **kwargs):
    return api.post(path, body, format=kwargs.pop("format", "json"), **kwargs)


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


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


def test_result_as_urls_leaves_the_base64_out(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    result = api.get(f"/jobs/{job_id}/result?format=url").json()
    assert result["images"][0].startswith("http://testserver/images/")


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


def test_queue_positions_follow_arrival_order(api, backend):
    ids = [submit(api, {"user_id": f"u{i}", "prompt": "x"}).json()["job_id"] for i in range(3)]
    assert [api.get(f"/jobs/{i}").json()["queue_position"] for i in ids] == [1, 2, 3]


def test_result_is_409_until_the_job_completes(api, backend):
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    response = api.get(f"/jobs/{job_id}/result")
    assert response.status_code == 409
    assert response.json()["status"] == "queued"


def test_an_unknown_job_is_404(api, db):
    assert api.get("/jobs/3f1c1f9e-8f34-4d5e-9d0e-000000000000").status_code == 404
    assert api.get("/jobs/your-job-id").status_code == 404


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


def test_cancel_while_queued_means_it_never_runs(api, backend, cluster, sim):
    job_id = submit(api, {"user_id": "u", "prompt": "never"}).json()["job_id"]
    response = api.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    cluster.drain()
    assert Job.objects.get(pk=job_id).status == "cancelled"
    assert not [h for h in sim_history(sim) if h.get("prompt") == "never"]
    again = api.delete(f"/jobs/{job_id}")
    assert again.status_code == 409 and again.json()["status"] == "cancelled"


def test_cancel_while_running_interrupts_the_backend(api, backend, cluster, sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.05
    # 150 steps of 200 ms: far longer than any stall, and the cancel ends it long before.
    # What is asserted is the order (running with some steps done, then cancelled), never
    # how long a step took.
    sim_faults(sim, step_ms=200)
    job_id = submit(
        api, {"user_id": "u", "prompt": "slow", "steps": 150, "width": 64, "height": 64}
    ).json()["job_id"]
    worker = cluster.drain_in_thread()
    wait_for(lambda: Job.objects.get(pk=job_id).step > 0)
    status = api.get(f"/jobs/{job_id}").json()
    assert status["status"] == "running" and 0 < status["step"] < 150
    api.post(f"/jobs/{job_id}/cancel")
    worker.join(timeout=30)
    job = Job.objects.get(pk=job_id)
    assert job.status == "cancelled" and "Cancelled while running" in job.message
    assert job.finished_at is not None
    assert not BackendLease.objects.exists()


def test_an_a1111_error_fails_the_job_with_its_message(api, backend, cluster, sim):
    sim_faults(
        sim,
        fail_rate=1.0,
        fail_status=500,
        fail_message="CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    status = api.get(f"/jobs/{job_id}").json()
    assert status["status"] == "failed"
    assert "CUDA out of memory" in status["message"] and "Lower the size" in status["message"]


def test_a_backend_that_hangs_fails_the_job_within_the_timeout(
    api, backend, cluster, sim, settings
):
    settings.A1111_GENERATION_TIMEOUT = 1.0
    sim_faults(sim, hang_seconds=3, count=1)
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "timed out" in job.message


def test_a_backend_that_drops_the_connection_fails_the_job(api, backend, cluster, sim):
    sim_faults(sim, drop_connection=True, count=1)
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "unreachable" in job.message.lower()


def test_a_backend_that_is_down_fails_the_job_saying_so(api, cluster, unused_port):
    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "Backend unreachable" in job.message
    assert Backend.objects.get().healthy is False


def test_the_sweep_fails_a_job_whose_worker_died_and_frees_its_backend(backend, db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from generation_app.scheduling.housekeeping import sweep_stale_jobs

    stale = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        user_id="u", kind="txt2img", status="running", heartbeat_at=stale, backend=backend
    )
    fresh = Job.objects.create(
        user_id="u", kind="txt2img", status="running", heartbeat_at=timezone.now()
    )
    BackendLease.objects.create(backend=backend, job=job)
    assert sweep_stale_jobs() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "Submit it again" in job.message
    assert Job.objects.get(pk=fresh.pk).status == "running"
    assert not BackendLease.objects.exists()


def test_the_history_is_per_user_newest_first_and_paginated(api, user_api, backend, cluster):
    for prompt in ("one", "two", "three"):
        submit(api, {"user_id": "alice", "prompt": prompt, "width": 64, "height": 64})
    submit(api, {"user_id": "bob", "prompt": "bob's", "width": 64, "height": 64})
    cluster.drain()
    alice = user_api("alice")
    page = alice.get("/jobs?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert [r["user_id"] for r in page["results"]] == ["alice", "alice"]
    assert page["results"][0]["created_at"] >= page["results"][1]["created_at"]
    assert page["results"][0]["thumbnail_url"]
    assert alice.get("/jobs?user_id=bob").status_code == 403
    assert alice.get("/jobs?status=bogus").status_code == 400
    assert len(api.get("/jobs?status=completed&kind=txt2img").json()["results"]) == 4


def test_a_user_key_cannot_see_another_users_job_or_images(api, user_api, backend, cluster):
    job_id = submit(api, {"user_id": "alice", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    url = api.get(f"/jobs/{job_id}/result?format=url").json()["images"][0]
    unsigned = url.split("?")[0]  # a signed link is a capability; without it, the key decides
    bob = user_api("bob")
    assert bob.get(f"/jobs/{job_id}").status_code == 403
    assert bob.get(f"/jobs/{job_id}/result").status_code == 403
    assert bob.get(unsigned).status_code == 403
    assert user_api("alice").get(unsigned).status_code == 200


def test_progress_is_recorded_while_running(api, backend, cluster, sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.05
    # Slow steps until a partial progress has been seen, then full speed: the test waits
    # for events in order (running part-way, then completed) instead of sampling a fixed
    # window that a busy machine could sleep through.
    sim_faults(sim, step_ms=200)
    job_id = submit(
        api, {"user_id": "u", "prompt": "x", "steps": 40, "width": 64, "height": 64}
    ).json()["job_id"]
    worker = cluster.drain_in_thread()

    def part_way():
        status = api.get(f"/jobs/{job_id}").json()
        return status["status"] == "running" and 0 < status["progress"] < 1 and status

    status = wait_for(part_way, timeout=60)
    assert status["eta_seconds"] is not None and status["eta_seconds"] >= 0
    sim_faults(sim, step_ms=0)
    worker.join(timeout=60)
    assert api.get(f"/jobs/{job_id}").json()["status"] == "completed"


def test_events_stream_ends_with_the_final_state(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "event: done" in text and '"status": "completed"' in text


def test_stored_images_keep_their_infotext(api, backend, cluster, settings):
    job_id = submit(
        api, {"user_id": "u", "prompt": "a lighthouse", "width": 64, "height": 64}
    ).json()["job_id"]
    cluster.drain()
    image = JobImage.objects.get(job_id=job_id)
    with default_storage.open(image.file) as handle:
        stored = Image.open(io.BytesIO(handle.read()))
    assert "a lighthouse" in stored.info["parameters"]


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


def test_a_refused_connection_moves_the_job_to_another_backend(api, cluster, sim, unused_port):
    down = Backend.objects.create(name="down", url=f"http://127.0.0.1:{unused_port}")
    up = Backend.objects.create(name="sim", url=sim.url)
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    job = Job.objects.get(pk=job_id)
    assert job.status == "completed", job.message
    assert job.backend == up
    down.refresh_from_db()
    assert down.healthy is False and "refused" in down.last_error


def test_the_sweep_starts_a_dispatcher_for_jobs_whose_task_was_lost(api, backend, cluster):
    from generation_app.scheduling.housekeeping import sweep_stale_jobs

    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.broker.purge_queue()  # the task died with its worker (or Redis lost it)
    assert cluster.drain() == 0 and Job.objects.get(pk=job_id).status == "queued"
    sweep_stale_jobs()
    assert cluster.drain() == 1
    assert Job.objects.get(pk=job_id).status == "completed"


def test_the_sweep_in_the_housekeeping_cluster_queues_the_dispatcher_for_generation(
    api, backend, cluster, settings, monkeypatch
):
    """django-q2 sends a task without a cluster to the process's own queue; the sweep runs
    in the housekeeping cluster (Q_CLUSTER_NAME), whose one worker must not run jobs."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    from generation_app.scheduling.housekeeping import sweep_stale_jobs

    submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64})
    cluster.broker.purge_queue()
    housekeeping = get_broker(settings.HUB_HOUSEKEEPING_QUEUE)
    housekeeping.purge_queue()
    monkeypatch.setattr(Conf, "CLUSTER_NAME", settings.HUB_HOUSEKEEPING_QUEUE)  # as its env
    sweep_stale_jobs()
    assert (cluster.broker.queue_size(), housekeeping.queue_size()) == (1, 0)


def test_event_streams_are_bounded_per_process(api, backend, settings):
    from generation_app.delivery import streams

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    held = [
        streams._event_streams.acquire(blocking=False)
        for _ in range(settings.HUB_MAX_EVENT_STREAMS)
    ]
    try:
        assert all(held)
        response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
        assert response.status_code == 429
        assert json.loads(response.content)["error"] == "too_many_streams"
    finally:
        for _ in held:
            streams._event_streams.release()
    settings.HUB_EVENT_STREAM_SECONDS = 0  # a queued job: the stream ends at its deadline
    response = api.get(f"/jobs/{job_id}/events", HTTP_ACCEPT="text/event-stream")
    assert b"retry: 2000" in b"".join(response.streaming_content)


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


def test_the_job_status_body_has_exactly_the_documented_fields(api, backend):
    from generation_app.delivery.documents import JobSerializer

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    body = api.get(f"/jobs/{job_id}").json()
    assert list(body) == list(JobSerializer().fields)
    assert body["created_at"].endswith("Z") and body["started_at"] is None


def test_a_status_poll_reads_only_the_columns_it_shows(api, backend):
    """The payload may hold megabytes of base64 images; GET /jobs/{id} never loads it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    Job.objects.filter(pk=job_id).update(status="running", backend=backend)
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/jobs/{job_id}").json()
    assert body["status"] == "running" and body["backend"] == backend.url
    job_reads = [q["sql"] for q in queries if 'FROM "generation_app_job"' in q["sql"]]
    assert len(job_reads) == 1
    assert '"payload"' not in job_reads[0] and '"request"' not in job_reads[0]


def test_job_links_are_the_routes_they_name(api, backend):
    from django.urls import reverse

    job_id = submit(api, {"user_id": "u", "prompt": "x"}).json()["job_id"]
    links = api.get(f"/jobs/{job_id}").json()["links"]
    for name, url_name in (
        ("self", "job-detail"),
        ("result", "job-result"),
        ("cancel", "job-cancel"),
        ("events", "job-events"),
    ):
        assert links[name] == "http://testserver" + reverse(url_name, args=[job_id])


def test_only_stored_image_names_are_served(api, backend, cluster):
    job_id = submit(api, {"user_id": "u", "prompt": "x", "width": 64, "height": 64}).json()[
        "job_id"
    ]
    cluster.drain()
    assert api.get(f"/images/{job_id}/0.png").status_code == 200
    assert api.get(f"/images/{job_id}/0.thumb.webp").status_code == 200
    for bad in (f"{job_id}/1.png", f"{job_id}/x/0.png", "not-a-uuid/0.png", f"{job_id}"):
        response = api.get(f"/images/{bad}")
        assert response.status_code == 404, bad
        assert response.json()["error"] in ("image_not_found", "job_not_found")


def test_a_multipart_prompt_that_looks_like_a_list_stays_text(api, backend):
    upload = io.BytesIO(base64.b64decode(png_b64()))
    upload.name = "photo.png"
    body = {"user_id": "u", "prompt": "[masterpiece], {best quality}", "init_image": upload}
    response = api.post("/generate/img2img", body, format="multipart")
    assert response.status_code == 202, response.json()
    assert Job.objects.get().payload["prompt"] == "[masterpiece], {best quality}"
