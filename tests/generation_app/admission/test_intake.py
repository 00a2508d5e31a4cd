"""Intake, without a server: the request's fingerprint, images elided from the record,
and what an HTTP request tells the one door."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.auth import Principal
from generation_app.admission import intake
from generation_app.media.uploads import check_image


def png(size=(40, 24)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_fingerprint_ignores_key_order_and_sees_any_change():
    one = intake.fingerprint({"prompt": "a", "steps": 2})
    assert one == intake.fingerprint({"steps": 2, "prompt": "a"})
    assert one != intake.fingerprint({"prompt": "a", "steps": 3})


def test_the_record_describes_images_instead_of_keeping_them():
    image = check_image(png(), "image")
    record = intake.elide_images({"prompt": "a", "image": image.b64}, {"image": image})
    assert record["prompt"] == "a"
    assert record["image"].startswith("<image 40x24, ")


def test_a_submission_carries_the_key_the_body_and_the_caller():
    principal = Principal(key_id=7, name="bot", priority=3)
    http = APIRequestFactory().post("/generate/txt2img", HTTP_IDEMPOTENCY_KEY=" retry-1 ")
    request = Request(http)
    request.user = principal
    received = {"user_id": "u", "prompt": "a"}
    submission = intake.submission(request, received, received, "txt2img")
    assert (submission.user_id, submission.idempotency_key) == ("u", "retry-1")
    assert submission.fingerprint == intake.fingerprint(received)
    assert submission.principal is principal and submission.base_url == "http://testserver"


def test_an_overlong_idempotency_key_is_refused():
    request = Request(APIRequestFactory().post("/x", HTTP_IDEMPOTENCY_KEY="k" * 201))
    with pytest.raises(Exception, match="longer than 200"):
        intake.idempotency_key(request)
