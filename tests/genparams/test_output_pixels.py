"""One pixel rule for every way a request sets an output size, by A1111's arithmetic:
hires fix by scale or by hr_resize_x/y, and upscale by a factor or to a size (cropped or
not). Both bypasses below made 67 M pixels against a 16.8 M limit."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from generation_app.models import Job
from genparams.params import hires_size


@pytest.mark.parametrize(
    "size, fields, expected",
    [
        ((512, 512), {"hr_scale": 2}, (1024, 1024)),
        ((512, 512), {"hr_resize_x": 8192}, (8192, 8192)),
        ((64, 2048), {"hr_resize_x": 2048}, (2048, 65536)),
        ((512, 768), {"hr_resize_y": 1536}, (1024, 1536)),
        ((512, 768), {"hr_resize_x": 1024, "hr_resize_y": 1024}, (1024, 1536)),
        ((768, 512), {"hr_resize_x": 1024, "hr_resize_y": 1024}, (1536, 1024)),
    ],
)
def test_the_hires_pass_size_is_a1111s(size, fields, expected):
    assert hires_size(*size, fields) == expected


@pytest.mark.parametrize("width, height", [(512, 512), (64, 2048)])
def test_hr_resize_past_the_pixel_limit_is_refused(api, backend, settings, width, height):
    settings.HUB_MAX_OUTPUT_PIXELS = 4096 * 4096
    body = {
        "user_id": "u", "prompt": "x", "width": width, "height": height, "enable_hr": True,
        "hr_resize_x": 2048,
    }  # fmt: skip
    if (width, height) == (512, 512):
        body["hr_resize_x"] = settings.HUB_MAX_WIDTH * 4
    response = api.post("/generate/txt2img", body, format="json")
    assert response.status_code == 400, response.content
    assert "pixels" in str(response.json())
    assert Job.objects.count() == 0


def png(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "gray").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("crop", [False, True])
def test_an_upscale_to_a_size_counts_the_scaled_image_not_the_target(api, backend, crop):
    body = {
        "user_id": "u", "image": png(128, 512), "upscaler_1": "Lanczos",
        "upscaling_resize_w": 4096, "upscaling_resize_h": 64, "upscaling_crop": crop,
    }  # fmt: skip
    response = api.post("/upscale", body, format="json")
    assert response.status_code == 400, response.content
    assert "4096x16384" in str(response.json())
    assert Job.objects.count() == 0
