"""Issues 13 and 15: images a bot can post and storage that lasts — signed, expiring,
absolute links; grids and compressed copies; results of cancelled jobs; every image through
Django's storage API; retention and per-user quota. Real HTTP to a1111sim, real django-q2."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from core import links
from generation_app.media import retention, variants
from generation_app.models import Job, JobImage

SMALL = {"user_id": "alice", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4}


def run(api, cluster, body: dict) -> str:
    response = api.post("/generate/txt2img", body, format="json")
    assert response.status_code == 202, response.json()
    cluster.drain()
    return response.json()["job_id"]


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def sim_faults(sim, **faults) -> None:
    requests.post(f"{sim.url}/sim/faults", json=faults, timeout=5).raise_for_status()


# --- signed links ---------------------------------------------------------------------------
def test_result_links_open_without_a_key_until_they_expire(api, backend, cluster, settings):
    job_id = run(api, cluster, SMALL)
    result = api.get(f"/jobs/{job_id}/result?format=url").json()
    (item,) = result["items"]
    anonymous = APIClient()
    for url in (result["images"][0], item["url"], item["thumbnail_url"], item["compressed_url"]):
        assert url.startswith("http://testserver/images/"), url
        assert "signature=" in url and "expires=" in url
        response = anonymous.get(path_of(url))
        assert response.status_code == 200, (url, response.content[:200])
        Image.open(io.BytesIO(content(response))).verify()
    assert "public" in anonymous.get(path_of(item["url"]))["Cache-Control"]
    # The answer says when its links expire, and they do.
    expires = int(parse_qs(urlsplit(item["url"]).query)["expires"][0])
    assert abs(timezone.datetime.fromisoformat(result["expires_at"]).timestamp() - expires) < 1
    assert expires - time.time() == pytest.approx(settings.HUB_IMAGE_URL_SECONDS, abs=61)
    settings.HUB_IMAGE_URL_SECONDS = -120  # links made now are already expired
    stale = api.get(f"/jobs/{job_id}/result?format=url").json()["items"][0]["url"]
    refused = anonymous.get(path_of(stale))
    assert refused.status_code == 403 and refused.json()["error"] == "link_expired"
    assert "format=url" in refused.json()["detail"]
    # A key that may see the job still opens an expired link (the key decides then).
    assert api.get(path_of(stale)).status_code == 200


def test_a_signature_opens_only_the_file_it_was_made_for(api, user_api, backend, cluster):
    alice_job = run(api, cluster, SMALL)
    bob_job = run(api, cluster, {**SMALL, "user_id": "bob"})
    alice = api.get(f"/jobs/{alice_job}/result?format=url").json()["items"][0]
    bob = api.get(f"/jobs/{bob_job}/result?format=url").json()["items"][0]
    anonymous = APIClient()
    query = urlsplit(alice["url"]).query
    # Alice's signature on Bob's image, on her own thumbnail, or tampered: refused.
    for url in (
        f"{urlsplit(bob['url']).path}?{query}",
        f"{urlsplit(alice['thumbnail_url']).path}?{query}",
        f"{urlsplit(alice['url']).path}?{query.replace('expires=', 'expires=9')}",
    ):
        response = anonymous.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"] == "link_invalid"
    # No signature and no key: 401, as for every endpoint.
    assert anonymous.get(urlsplit(alice["url"]).path).status_code == 401
    # Bob's key on Alice's unsigned image: 403; Alice's own key: 200.
    assert user_api("bob").get(urlsplit(alice["url"]).path).status_code == 403
    assert user_api("alice").get(urlsplit(alice["url"]).path).status_code == 200


def test_hub_public_url_makes_every_link_absolute(api, backend, cluster, settings, sim):
    settings.HUB_PUBLIC_URL = "https://hub.example.com/sd"
    job_id = run(api, cluster, {**SMALL, "batch_size": 2})
    body = api.get(f"/jobs/{job_id}").json()
    assert body["links"]["self"] == f"https://hub.example.com/sd/jobs/{job_id}"
    result = api.get(f"/jobs/{job_id}/result?format=url").json()
    urls = [result["grid_url"], *result["images"]]
    for item in result["items"]:
        urls += [item["url"], item["thumbnail_url"], item["compressed_url"]]
        urls += [v["url"] for v in item["variants"]]
    listing = api.get("/jobs?user_id=alice").json()["results"]
    urls += [listing[0]["thumbnail_url"]]
    assert all(u.startswith("https://hub.example.com/sd/") for u in urls), urls
    # The signed part does not depend on the host: the same path opens behind the proxy.
    assert APIClient().get(urlsplit(result["grid_url"]).path.removeprefix("/sd") + "?"
                           + urlsplit(result["grid_url"]).query).status_code == 200  # fmt: skip


def test_a_running_jobs_preview_url_is_signed(api, backend, cluster, sim, settings):
    settings.HUB_PROGRESS_INTERVAL = 0.03
    settings.HUB_PREVIEW_INTERVAL = 0.0
    sim_faults(sim, step_ms=40)
    job_id = api.post(
        "/generate/txt2img", {**SMALL, "steps": 60, "width": 256, "height": 256}, format="json"
    ).json()["job_id"]
    worker = cluster.drain_in_thread()
    served = []
    while worker.is_alive() and not served:
        url = api.get(f"/jobs/{job_id}").json()["preview_url"]
        if url:
            assert "signature=" in url
            response = APIClient().get(path_of(url))  # no key
            if response.status_code == 200:
                served.append(content(response))
        time.sleep(0.03)
    worker.join()
    assert served and Image.open(io.BytesIO(served[0])).format == "WEBP"
    other = api.post("/generate/txt2img", SMALL, format="json").json()["job_id"]
    forged = path_of(url).replace(job_id, other)
    assert APIClient().get(forged).status_code == 403


# --- grids and compressed copies --------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "shape"),
    [(2, (1, 2)), (3, (2, 2)), (4, (2, 2)), (5, (2, 3)), (6, (2, 3)), (9, (3, 3)), (16, (4, 4))],
)
def test_grid_shape_is_square_as_it_can_be(count, shape):
    rows, columns = variants.grid_shape(count)
    assert (rows, columns) == shape and rows * columns >= count and rows <= columns


def test_a_batch_comes_as_one_grid_and_every_image_compressed(api, backend, cluster):
    job_id = run(api, cluster, {**SMALL, "batch_size": 3, "width": 96, "height": 64})
    result = api.get(f"/jobs/{job_id}/result?format=url").json()
    assert len(result["items"]) == 3 and result["grid_url"]
    assert all(e["role"] != "grid" for e in result["extras"])
    grid = Image.open(io.BytesIO(content(APIClient().get(path_of(result["grid_url"])))))
    assert grid.format == "JPEG" and grid.size == (2 * 96, 2 * 64)  # 3 images: 2 x 2
    for item in result["items"]:
        names = [v["name"] for v in item["variants"]]
        assert names == ["original", "compressed", "thumbnail"]
        compressed = next(v for v in item["variants"] if v["name"] == "compressed")
        assert compressed["url"] == item["compressed_url"]
        assert compressed["content_type"] == "image/jpeg"
        data = content(APIClient().get(path_of(item["compressed_url"])))
        assert Image.open(io.BytesIO(data)).size == (96, 64)
    made = api.get(f"/jobs/{job_id}/result?format=url").json()["items"]
    for item in made:  # each copy's size is known once it has been made
        compressed = next(v for v in item["variants"] if v["name"] == "compressed")
        data = content(APIClient().get(path_of(item["compressed_url"])))
        assert len(data) == compressed["bytes"] and compressed["width"] == 96
    single = run(api, cluster, SMALL)
    assert api.get(f"/jobs/{single}/result").json()["grid_url"] is None


def test_thumbnails_and_compressed_copies_are_made_on_first_request(api, backend, cluster):
    job_id = run(api, cluster, SMALL)
    image = JobImage.objects.get(job_id=job_id, index=0)
    assert not default_storage.exists(image.thumbnail)
    assert not default_storage.exists(image.compressed)
    item = api.get(f"/jobs/{job_id}/result?format=url").json()["items"][0]
    thumbnail = next(v for v in item["variants"] if v["name"] == "thumbnail")
    assert thumbnail["bytes"] is None and thumbnail["url"] == item["thumbnail_url"]
    before = image.bytes

    data = content(APIClient().get(path_of(item["thumbnail_url"])))
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    image.refresh_from_db()
    assert image.variants["thumbnail"]["bytes"] == len(data)
    assert image.bytes == before + len(data)
    assert not default_storage.exists(image.compressed)  # only what was asked for
    again = content(APIClient().get(path_of(item["thumbnail_url"])))
    image.refresh_from_db()
    assert again == data and image.bytes == before + len(data)  # made once


def test_a_copy_made_at_the_same_moment_by_another_request_is_never_replaced(api, backend, cluster):
    """Two first requests for a thumbnail both make it; the second must keep the first's
    file, which may be being served already (replacing it deleted it first: a 404)."""
    job_id = run(api, cluster, SMALL)
    image = JobImage.objects.get(job_id=job_id, index=0)
    first = default_storage.save(image.thumbnail, io.BytesIO(b"the first request's copy"))
    assert first == image.thumbnail and "thumbnail" not in image.variants  # a stale row
    variants.ensure_variant(image, image.thumbnail)
    with default_storage.open(image.thumbnail) as handle:
        assert handle.read() == b"the first request's copy"
    folder = image.thumbnail.rsplit("/", 1)[0]
    assert [n for n in default_storage.listdir(folder)[1] if "thumb" in n] == ["0.thumb.webp"]
    image.refresh_from_db()  # the size recorded is the kept file's
    assert image.variants["thumbnail"]["bytes"] == len(b"the first request's copy")


def test_an_image_stored_before_sizes_were_recorded_keeps_its_copies(api, backend, cluster):
    job_id = run(api, cluster, SMALL)
    image = JobImage.objects.get(job_id=job_id, index=0)
    default_storage.save(image.thumbnail, io.BytesIO(b"made when it was stored"))
    JobImage.objects.filter(pk=image.pk).update(variants={}, bytes=0)  # as such rows are
    image.refresh_from_db()
    variants.ensure_variant(image, image.thumbnail)
    image.refresh_from_db()
    assert image.bytes == 0 and image.variants == {}  # left for the prune to measure
    with default_storage.open(image.thumbnail) as handle:
        assert handle.read() == b"made when it was stored"


def test_the_compressed_copy_stays_under_the_byte_limit(settings):
    noise = Image.effect_noise((768, 768), 90).convert("RGB")  # incompressible
    data, size = variants.compress(noise, 60_000)
    assert len(data) <= 60_000 and size[0] < 768  # quality alone was not enough
    data, size = variants.compress(noise, 8_000_000)
    assert size == (768, 768) and Image.open(io.BytesIO(data)).format == "JPEG"


# --- results of every state ---------------------------------------------------------------
def test_a_job_cancelled_while_running_gives_the_images_that_finished(
    api, backend, cluster, sim, settings
):
    settings.HUB_PROGRESS_INTERVAL = 0.05
    sim_faults(sim, step_ms=20)
    job_id = api.post(
        "/generate/txt2img", {**SMALL, "steps": 40, "batch_count": 3}, format="json"
    ).json()["job_id"]
    worker = cluster.drain_in_thread()
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job_id).progress < 0.5 and time.monotonic() < deadline:
        time.sleep(0.02)
    api.post(f"/jobs/{job_id}/cancel")
    worker.join(timeout=30)
    job = Job.objects.get(pk=job_id)
    assert job.status == "cancelled" and "kept" in job.message
    response = api.get(f"/jobs/{job_id}/result")
    kept = job.images.filter(role="image").count()
    assert kept >= 1  # half of three iterations: at least the first one finished
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled" and len(body["images"]) == kept
    assert body["info"]["prompt"] == "a lighthouse"


def test_the_409_advice_fits_each_state(api, backend, cluster, sim):
    queued = api.post("/generate/txt2img", SMALL, format="json").json()["job_id"]
    body = api.get(f"/jobs/{queued}/result").json()
    assert body["error"] == "job_not_completed" and body["status"] == "queued"
    assert f"GET /jobs/{queued}" in body["detail"]
    api.post(f"/jobs/{queued}/cancel")
    body = api.get(f"/jobs/{queued}/result").json()
    assert body["error"] == "job_cancelled" and "again" in body["detail"]
    sim_faults(sim, fail_rate=1.0, fail_status=500, fail_message="CUDA out of memory")
    failed = run(api, cluster, SMALL)
    response = api.get(f"/jobs/{failed}/result")
    body = response.json()
    assert response.status_code == 409 and body["error"] == "job_failed"
    assert "out of memory" in body["detail"] and "poll" not in body["detail"].lower()
    running = Job.objects.create(user_id="alice", kind="txt2img", status="running", progress=0.4)
    body = api.get(f"/jobs/{running.pk}/result").json()
    assert body["error"] == "job_not_completed" and "running (40%)" in body["detail"]


# --- storage through Django's storage API ----------------------------------------------------
def test_everything_is_stored_through_the_storage_api(api, backend, cluster, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    job_id = run(api, cluster, {**SMALL, "batch_size": 2})
    result = api.get(f"/jobs/{job_id}/result").json()
    assert len(result["images"]) == 2 and result["grid_url"]
    item = result["items"][0]
    for url in (item["url"], item["thumbnail_url"], item["compressed_url"], result["grid_url"]):
        assert APIClient().get(path_of(url)).status_code == 200
    assert default_storage.exists(f"jobs/{job_id}/0.png")
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*.png"))


# --- retention and quota ---------------------------------------------------------------------
def _age(job_id, days: float) -> None:
    when = timezone.now() - timedelta(days=days)
    Job.objects.filter(pk=job_id).update(created_at=when, finished_at=when)


def test_retention_deletes_old_images_and_leaves_running_jobs_alone(
    api, backend, cluster, settings
):
    old = run(api, cluster, SMALL)
    new = run(api, cluster, SMALL)
    _age(old, 10)
    old_files = [i.file for i in JobImage.objects.filter(job_id=old)]
    running = Job.objects.create(user_id="alice", kind="txt2img", status="running")
    JobImage.objects.create(job=running, index=0, file=old_files[0], width=1, height=1)
    Job.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=30))
    settings.HUB_IMAGE_RETENTION_DAYS = 7
    call_command("prune_images", "--dry-run", stdout=io.StringIO())
    assert default_storage.exists(old_files[0])  # a dry run deletes nothing
    report = retention.prune_images()
    assert report.retention_jobs == 1 and report.bytes > 0
    assert not any(default_storage.exists(name) for name in old_files[1:])
    assert JobImage.objects.filter(job=running).exists()  # running: never touched
    assert JobImage.objects.filter(job_id=new).exists()
    job = Job.objects.get(pk=old)
    assert job.images_pruned_at and "Images deleted" in job.message
    response = api.get(f"/jobs/{old}/result")
    assert response.status_code == 410 and response.json()["error"] == "images_pruned"
    assert api.get("/jobs?user_id=alice&status=completed").json()["results"][-1][
        "thumbnail_url"
    ] is None  # fmt: skip
    assert api.get(f"/jobs/{old}").status_code == 200  # the record stays
    assert retention.prune_images().jobs == 0  # idempotent


def test_quota_deletes_the_oldest_images_first(api, backend, cluster, settings):
    jobs = [run(api, cluster, {**SMALL, "seed": n}) for n in range(3)]
    for age, job_id in zip((3, 2, 1), jobs, strict=True):
        _age(job_id, age)
    bob = run(api, cluster, {**SMALL, "seed": 2, "user_id": "bob"})  # as big as one of hers
    sizes = {j: sum(i.bytes for i in JobImage.objects.filter(job_id=j)) for j in jobs}
    assert all(sizes.values())
    # Room for the newest two of alice's jobs, not three.
    settings.HUB_USER_IMAGE_QUOTA_MB = (sizes[jobs[1]] + sizes[jobs[2]] + 10) / 1024 / 1024
    report = retention.prune_images()
    assert report.quota_jobs == 1 and report.users_over_quota == ["alice"]
    assert Job.objects.get(pk=jobs[0]).images_pruned_at is not None
    assert all(Job.objects.get(pk=j).images_pruned_at is None for j in (*jobs[1:], bob))
    assert "quota" in Job.objects.get(pk=jobs[0]).images_pruned_reason


def test_the_prune_is_scheduled_on_the_housekeeping_queue_only_when_on(db, settings):
    from django_q.models import Schedule

    from generation_app.scheduling.housekeeping import ensure_schedules

    ensure_schedules()
    assert not Schedule.objects.filter(name=retention.SCHEDULE_NAME).exists()
    settings.HUB_IMAGE_RETENTION_DAYS = 30
    ensure_schedules()
    ensure_schedules()
    (schedule,) = Schedule.objects.filter(name=retention.SCHEDULE_NAME)
    assert schedule.cluster == settings.HUB_HOUSEKEEPING_QUEUE
    assert schedule.func == "generation_app.tasks.prune_images"


def test_links_sign_the_exact_name():
    query = parse_qs(links.signed_query("jobs/a/0.png", expires=2_000_000_000))
    params = {k: v[0] for k, v in query.items()}
    assert links.check_signed("jobs/a/0.png", params) == links.LinkState.VALID
    assert links.check_signed("jobs/a/1.png", params) == links.LinkState.INVALID
    assert links.check_signed("jobs/a/0.png", {}) == links.LinkState.ABSENT
