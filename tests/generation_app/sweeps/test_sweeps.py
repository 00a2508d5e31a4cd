"""Sweeps: cells expanded from up to three axes, checked like requests, run as jobs of one
group over the real queue and simulators, counted as one request, with a contact sheet."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from a1111sim.server import SimConfig, start_in_thread
from backends.models import Backend
from generation_app.models import Job, JobGroup
from generation_app.sweeps import axes as sweep_axes
from generation_app.sweeps import sheet as sweep_sheet
from generation_app.sweeps.axes import Axis

SMALL = {"prompt": "a red lighthouse", "width": 64, "height": 64, "steps": 3}


def sweep(api, axes, user="u", **base):
    return api.post(
        "/generate/sweep",
        {"user_id": user, "base": {**SMALL, **base}, "axes": axes},
        format="json",
    )


# --- pure: expansion ------------------------------------------------------------------
def test_cells_are_every_combination_x_fastest():
    axes = [Axis("seed", [1, 2]), Axis("steps", [5, 6])]
    assert sweep_axes.cells(axes) == [
        {"steps": 5, "seed": 1},
        {"steps": 5, "seed": 2},
        {"steps": 6, "seed": 1},
        {"steps": 6, "seed": 2},
    ]


def test_a_cell_puts_its_values_in_prompt_loras_and_fields():
    axes = [Axis("prompt_sr", ["red", "blue"]), Axis("lora:x.safetensors", [0.5])]
    params = {"prompt": "a red house", "negative_prompt": "red", "loras": {"y.safetensors": 1}}
    cell = {"prompt_sr": "blue", "lora:x.safetensors": 0.5}
    out = sweep_axes.apply_cell(params, cell, axes)
    assert out["prompt"] == "a blue house" and out["negative_prompt"] == "blue"
    assert out["loras"] == {"y.safetensors": 1, "x.safetensors": 0.5}
    assert params["prompt"] == "a red house"  # the base is left alone


# --- checked like requests ------------------------------------------------------------
@pytest.mark.parametrize(
    "axes, words",
    [
        ([{"field": "sampler_name", "values": ["Euler a", "Nope"]}], "Unknown sampler"),
        ([{"field": "steps", "values": [0]}], "greater than or equal"),
        ([{"field": "colour", "values": [1]}], "Unknown axis"),
        ([{"field": "prompt_sr", "values": ["green", "blue"]}], "must appear in the prompt"),
        ([{"field": "seed", "values": list(range(9))}] * 2, "one axis only"),
        (
            [
                {"field": "seed", "values": list(range(9))},
                {"field": "steps", "values": list(range(1, 9))},
            ],
            "at most 64",
        ),
    ],
)
def test_bad_axes_are_400_naming_the_axis(api, backend, axes, words):
    response = sweep(api, axes)
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert not JobGroup.objects.exists() and not Job.objects.exists()


def test_an_unknown_lora_axis_is_404_with_suggestions(api, backend):
    response = sweep(api, [{"field": "lora:nope.safetensors", "values": [0.5, 1]}])
    assert response.status_code == 404 and response.json()["error"] == "lora_not_found"


def test_a_user_key_cannot_sweep_for_another_user(user_api, backend):
    alice = user_api("alice")
    assert sweep(alice, [{"field": "seed", "values": [1]}], user="bob").status_code == 403


# --- through the queue ----------------------------------------------------------------
@pytest.fixture
def two_sims():
    servers = [start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0)) for _ in range(2)]
    for server in servers:
        Backend.objects.create(url=server.url)
    yield servers
    for server in servers:
        server.shutdown()


def test_a_sweep_runs_every_cell_over_every_backend_and_makes_a_sheet(api, cluster, two_sims):
    response = sweep(
        api,
        [
            {"field": "seed", "values": [1, 2, 3]},
            {"field": "sampler_name", "values": ["Euler a", "DPM++ 2M"]},
        ],
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and len(body["cells"]) == 6 and body["sheet_url"] is None
    cluster.drain()
    done = api.get(body["links"]["self"]).json()
    assert done["status"] == "completed" and done["progress"] == 1.0
    assert {j.backend.url for j in Job.objects.select_related("backend")} == {
        s.url for s in two_sims
    }
    sent = [
        (h["payload"]["seed"], h["payload"]["sampler_name"])
        for s in two_sims
        for h in requests.get(f"{s.url}/sim/state", timeout=5).json()["history"]
    ]
    assert sorted(sent) == sorted((s, n) for s in (1, 2, 3) for n in ("Euler a", "DPM++ 2M"))
    sheet = api.get(done["sheet_url"])
    assert sheet.status_code == 200 and sheet["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(b"".join(sheet.streaming_content)))
    assert picture.width <= sweep_sheet.SHEET_MAX_WIDTH and picture.height > 2 * 64


def test_a_sweep_is_one_request_for_the_active_job_limit(api, backend, settings):
    settings.HUB_MAX_ACTIVE_JOBS_PER_USER = 2
    axes = [{"field": "seed", "values": [1, 2, 3, 4, 5]}]
    assert sweep(api, axes).status_code == 202  # 5 cells, over the job limit of 2
    plain = api.post("/generate/txt2img", {"user_id": "u", **SMALL}, format="json")
    assert plain.status_code == 202  # the cells do not count against it
    second = sweep(api, axes)
    assert second.status_code == 429 and "sweep" in second.json()["detail"]


def test_cancelling_a_sweep_cancels_the_cells_not_yet_run(api, backend):
    body = sweep(api, [{"field": "seed", "values": [1, 2, 3]}]).json()
    cancelled = api.post(body["links"]["cancel"]).json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["cancelled"] == 3
    sheet = api.get(body["links"]["sheet"])
    assert sheet.status_code == 404 and sheet.json()["error"] == "sheet_not_ready"


def test_a_batch_in_the_base_is_refused(api, backend):
    response = sweep(api, [{"field": "seed", "values": [1, 2]}], batch_size=2)
    assert response.status_code == 400 and "one image per cell" in response.json()["detail"]


def test_a_prompt_sr_cell_longer_than_the_prompt_limit_is_refused_before_it_is_built(api, backend):
    """A 14 KB request used to store a 19,991,998-character cell prompt."""
    response = sweep(api, [{"field": "prompt_sr", "values": ["a", "B" * 2000]}], prompt="a " * 1999)
    assert response.status_code == 400, response.content
    assert "HUB_MAX_PROMPT_CHARS" in str(response.json()["fields"]["axes"])
    assert Job.objects.count() == 0 and JobGroup.objects.count() == 0


def test_a_prompt_sr_value_over_the_prompt_limit_is_refused(api, backend):
    response = sweep(api, [{"field": "prompt_sr", "values": ["a", "B" * 10000]}], prompt="a cat")
    assert response.status_code == 400
    assert "HUB_MAX_PROMPT_CHARS" in str(response.json()["fields"])


def test_every_cell_meets_the_output_pixel_limit(api, backend, settings):
    settings.HUB_MAX_OUTPUT_PIXELS = 512 * 512
    response = sweep(
        api, [{"field": "seed", "values": [1, 2]}], width=512, height=512,
        enable_hr=True, hr_scale=2,
    )  # fmt: skip
    assert response.status_code == 400 and "pixels" in response.json()["detail"]


def noisy_png(size: int = 256) -> str:
    import base64
    import os

    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_img2img_sweep_stores_its_init_image_once(api, backend, cluster, sim):
    """A 4.9 MB image over a 64-value axis grew the database by 848 MB: every cell had a copy."""
    image = noisy_png()
    response = api.post(
        "/generate/sweep",
        {
            "user_id": "u", "kind": "img2img",
            "base": {**SMALL, "init_images": [image]},
            "axes": [{"field": "seed", "values": list(range(1, 17))}],
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    group = JobGroup.objects.get()
    assert group.shared_payload["init_images"] == [image]
    cells = list(Job.objects.filter(group=group))
    assert len(cells) == 16 and all("init_images" not in job.payload for job in cells)
    assert sum(len(str(job.payload)) for job in cells) < len(image)  # not one copy per cell

    cluster.drain()
    assert set(Job.objects.values_list("status", flat=True)) == {"completed"}
    history = requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
    sent = [h["payload"] for h in history if h["route"] == "/sdapi/v1/img2img"]
    assert len(sent) == 16 and all(p.get("init_images") for p in sent)
    group.refresh_from_db()
    assert group.shared_payload == {}  # the sweep ended: no cell needs it any more


def test_cancelling_an_img2img_sweep_drops_its_shared_image(api, backend):
    response = api.post(
        "/generate/sweep",
        {
            "user_id": "u", "kind": "img2img", "base": {**SMALL, "init_images": [noisy_png(64)]},
            "axes": [{"field": "seed", "values": [1, 2]}],
        },
        format="json",
    )  # fmt: skip
    assert JobGroup.objects.get().shared_payload
    assert api.post(response.json()["links"]["cancel"]).status_code == 200
    assert JobGroup.objects.get().shared_payload == {}


def test_retention_takes_a_sweeps_contact_sheet_with_its_last_cell(api, backend, cluster, settings):
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from generation_app.media.retention import prune_images

    response = sweep(api, [{"field": "seed", "values": [1, 2]}])
    cluster.drain()
    assert api.get(response.json()["links"]["sheet"]).status_code == 200
    sheet = JobGroup.objects.get().sheet
    assert default_storage.exists(sheet)
    settings.HUB_IMAGE_RETENTION_DAYS = 1
    prune_images(now=timezone.now() + timedelta(days=2))
    assert not default_storage.exists(sheet)
    assert JobGroup.objects.get().sheet == ""


def test_a_sweeps_contact_sheet_counts_in_the_users_quota(api, backend, cluster, settings):
    from django.db.models import Sum

    from generation_app.media.retention import prune_images
    from generation_app.models import JobImage

    response = sweep(api, [{"field": "seed", "values": [1, 2]}])
    cluster.drain()
    assert api.get(response.json()["links"]["sheet"]).status_code == 200
    group = JobGroup.objects.get()
    assert group.sheet_bytes > 0
    images = JobImage.objects.filter(job__user_id="u").aggregate(total=Sum("bytes"))["total"]
    # Over the quota by the sheet alone: the oldest cell goes, the sheet stays with the other.
    settings.HUB_USER_IMAGE_QUOTA_MB = (images + group.sheet_bytes - 1) / (1024 * 1024)
    report = prune_images()
    assert report.users_over_quota == ["u"] and report.quota_jobs == 1
    assert JobGroup.objects.get().sheet == group.sheet
    # Under a quota smaller than the sheet, the last cell goes and the sheet with it.
    settings.HUB_USER_IMAGE_QUOTA_MB = (group.sheet_bytes - 1) / (1024 * 1024)
    report = prune_images()
    assert report.quota_jobs == 1 and JobGroup.objects.get().sheet == ""
