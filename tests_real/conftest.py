"""Fixtures for the suite against a REAL A1111 (``make test-real``, tests_real/run.sh).

The real server is started by run.sh, which names it in ``A1111_REAL_URL``; here the hub
(``manage.py runhub`` on a temporary database, as the system tests start it) is pointed at
it, and an a1111sim is started in-process for the differential test.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # systemhelpers: how the system tests start runhub

from systemhelpers import _start_runhub, _stop_runhub  # noqa: E402

from a1111sim.server import SimConfig, SimServer, start_in_thread  # noqa: E402

# A generation on this CPU takes seconds per step: every picture is 64² and 1-2 steps.
SMALL = {"width": 64, "height": 64, "steps": 1, "sampler_name": "Euler", "seed": 7}


@pytest.fixture(scope="session")
def real_url() -> str:
    """The real A1111 run.sh started (its checkpoint loaded)."""
    url = os.environ.get("A1111_REAL_URL")
    if not url:
        pytest.exit(
            "A1111_REAL_URL is not set: run `make test-real`, which starts a real A1111 "
            "and names it there (see docs/testing.md).",
            returncode=2,
        )
    if not url.startswith("http://127.0.0.1:"):
        pytest.exit(f"A1111_REAL_URL must be a loopback address, not {url}", returncode=2)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def real(real_url: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def real_catalog(real_url: str) -> dict[str, Any]:
    """The names the real server has: its checkpoint(s) and ControlNet model(s)."""
    models = requests.get(f"{real_url}/sdapi/v1/sd-models", timeout=30).json()
    cn = requests.get(f"{real_url}/controlnet/model_list", timeout=30).json()["model_list"]
    return {"checkpoints": models, "controlnet_models": cn}


@pytest.fixture(scope="session")
def sim_like_real(
    tmp_path_factory: pytest.TempPathFactory, real_catalog: dict[str, Any]
) -> Iterator[SimServer]:
    """a1111sim set up like the real server: API only (--nowebui), ControlNet but neither
    Regional Prompter nor ADetailer, and the real server's checkpoint and ControlNet model
    names, so the differential test can send both literally the same requests."""
    folder = tmp_path_factory.mktemp("sim-like-real")
    models = {
        "checkpoints": [
            {"name": m["title"].split(" [")[0], "sha256": m.get("sha256") or ""}
            for m in real_catalog["checkpoints"]
        ],
        "vaes": [],
        "embeddings": [],
        "controlnet_models": real_catalog["controlnet_models"],
        "styles": [],  # the real kit has no styles.csv and no hypernetworks
        "hypernetworks": [],
    }
    (folder / "models.json").write_text(json.dumps(models))
    (folder / "loras").mkdir()
    server = start_in_thread(
        SimConfig(
            port=0,
            step_ms=0,
            swap_ms=0,
            nowebui=True,
            regional_prompter=False,
            adetailer=False,
            lora_dir=str(folder / "loras"),
            models_json=str(folder / "models.json"),
        )
    )
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, real_url: str) -> Iterator[dict[str, Any]]:
    """`manage.py runhub` with its one backend the real A1111 (no simulator)."""
    hub = _start_runhub(tmp_path_factory.mktemp("hub-real"), "hub_real", A1111_URL=real_url)
    hub["headers"] = {"Authorization": f"Bearer {hub['key']}"}
    hub["http"] = requests.Session()
    hub["http"].headers.update(hub["headers"])
    yield hub
    hub["http"].close()
    _stop_runhub(hub)


def png_b64(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 40, 40)) -> str:
    """A small picture with an edge in it (canny finds something), as bare base64."""
    img = Image.new("RGB", (width, height), (20, 20, 20))
    img.paste(color, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def mask_b64(width: int = 64, height: int = 64) -> str:
    """White (repaint) on the right half."""
    img = Image.new("L", (width, height), 0)
    img.paste(255, (width // 2, 0, width, height))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def decode(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64.split(",", 1)[-1])))
    img.load()
    return img


def wait_job(hub: dict[str, Any], job_id: str, timeout: float = 180) -> dict[str, Any]:
    """Poll the job until it ended (completed, failed or cancelled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = hub["http"].get(f"{hub['base']}/jobs/{job_id}", timeout=10).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end in {timeout} s")
