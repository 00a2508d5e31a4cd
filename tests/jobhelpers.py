"""Helpers the job tests share: requests, images, the simulator's faults and history."""

from __future__ import annotations

import base64
import io
import time

import requests
from PIL import Image

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
