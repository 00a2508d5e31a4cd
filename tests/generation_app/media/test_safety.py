"""Output safety with the real detector (NudeNet on onnxruntime): every generated image is
classified on the worker, and what a flagged one becomes follows the channel's policy."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from rest_framework.test import APIClient

from core.models import ApiKey
from generation_app.media.safety import classify
from generation_app.models import Job

SMALL = {"user_id": "u1", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 3}


@pytest.fixture
def guild(api, backend):
    assert api.post("/communities", {"id": "g1", "name": "G"}, format="json").status_code == 201
    channels = {
        "A": {"nsfw": False},  # the default outside age-restricted channels: block
        "B": {"nsfw": True, "policy": {"nsfw": "spoiler"}},
        "C": {"nsfw": False, "policy": {"nsfw": "blur"}},
    }
    for channel_id, body in channels.items():
        assert api.put(f"/communities/g1/channels/{channel_id}", body, format="json").status_code
    return "g1"


def run_in(api, cluster, channel: str | None) -> dict:
    where = {"community_id": "g1", "channel_id": channel} if channel else {}
    job_id = api.post("/generate/txt2img", {**SMALL, **where}, format="json").json()["job_id"]
    cluster.drain()
    assert Job.objects.get(pk=job_id).status == "completed"
    return api.get(f"/jobs/{job_id}/result?format=url").json() | {"job_id": job_id}


def is_notice(image: Image.Image) -> bool:
    """The grey card a withheld image is replaced by (most of it the card's grey)."""
    grey = sum(all(abs(c - 60) <= 6 for c in pixel) for pixel in image.getdata())
    return grey > 0.5 * image.width * image.height


def fetch(api, url: str) -> Image.Image:
    response = api.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(b"".join(response.streaming_content))).convert("RGB")


def test_with_a_threshold_that_flags_everything_each_channel_gets_its_action(
    api, guild, cluster, settings
):
    settings.HUB_SAFETY_THRESHOLD = 0.0
    settings.HUB_SAFETY_LABEL_ALLOWED = True
    blocked = run_in(api, cluster, "A")
    spoiler = run_in(api, cluster, "B")
    blurred = run_in(api, cluster, "C")
    kept = run_in(api, cluster, None)  # no community: labelled, never withheld

    actions = [r["items"][0]["safety"]["action"] for r in (blocked, spoiler, blurred, kept)]
    assert actions == ["block", "spoiler", "blur", "allow"]
    assert all(r["items"][0]["safety"]["nsfw"] is True for r in (blocked, spoiler, blurred, kept))
    assert all(r["items"][0]["safety"]["detector"] == "nudenet" for r in (blocked, kept))

    # Blocked: the image served is the notice card, a flat grey, not the picture.
    assert is_notice(fetch(api, blocked["items"][0]["url"]))
    assert is_notice(fetch(api, blocked["items"][0]["thumbnail_url"]))
    # Blurred: what is served is smoother than the original the moderators can see.
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.generate('mod', is_admin=True)[1]}")
    original_url = f"/jobs/{blurred['job_id']}/images/0/original"
    original = fetch(admin, original_url)
    shown = fetch(api, blurred["items"][0]["url"])
    assert original.size == shown.size and original.tobytes() != shown.tobytes()


def test_an_image_kept_whatever_its_verdict_is_not_classified_by_default(
    api, guild, cluster, settings
):
    settings.HUB_SAFETY_THRESHOLD = 0.0
    kept = run_in(api, cluster, None)  # no community: allow
    blocked = run_in(api, cluster, "A")
    assert kept["items"][0]["safety"] == {}
    assert blocked["items"][0]["safety"]["action"] == "block"


def test_the_original_of_a_withheld_image_is_for_the_admin_scope_only(
    api, guild, cluster, settings, user_api
):
    settings.HUB_SAFETY_THRESHOLD = 0.0
    blocked = run_in(api, cluster, "A")
    url = f"/jobs/{blocked['job_id']}/images/0/original"
    assert user_api("u1").get(url).status_code == 403
    assert api.get(url).status_code == 403  # a service key without the admin scope
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKey.generate('mod', is_admin=True)[1]}")
    original = fetch(admin, url)
    assert not is_notice(original)


def test_with_a_threshold_that_flags_nothing_every_image_is_kept(api, guild, cluster, settings):
    settings.HUB_SAFETY_THRESHOLD = 1.0
    result = run_in(api, cluster, "A")
    safety = result["items"][0]["safety"]
    assert safety["nsfw"] is False and safety["action"] == "none"
    assert 0 <= safety["score"] < 1


def test_the_detector_reads_a_picture(settings):
    settings.HUB_SAFETY_THRESHOLD = 0.5
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), (30, 90, 200)).save(buffer, "PNG")
    verdict = classify(buffer.getvalue())
    assert verdict is not None and verdict.nsfw is False and verdict.score == 0.0
    settings.HUB_SAFETY_DETECTOR = "off"
    assert classify(buffer.getvalue()) is None
