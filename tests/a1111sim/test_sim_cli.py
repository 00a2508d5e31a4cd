"""``python -m a1111sim``: the listening line, flags, and a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_cli_starts_prints_url_and_stops(tmp_path):
    models = tmp_path / "models.json"
    models.write_text(
        '{"checkpoints": [{"name": "only_one.safetensors"}], "controlnet_models": []}'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "a1111sim",
            "--port",
            "0",
            "--step-ms",
            "0",
            "--swap-ms",
            "0",
            "--lora-dir",
            str(tmp_path / "loras"),
            "--seed-loras",
            "--models-json",
            str(models),
            "--api-auth",
            "u:p",
            "--nowebui",
            "--no-regional-prompter",
        ],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("a1111sim listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        models = requests.get(url + "/sdapi/v1/sd-models", auth=("u", "p"), timeout=5).json()
        assert [m["title"].split(" [")[0] for m in models] == ["only_one.safetensors"]
        assert requests.get(url + "/sdapi/v1/sd-models", timeout=5).status_code == 401
        assert len(requests.get(url + "/sdapi/v1/loras", timeout=5).json()) == 5
        assert requests.post(url + "/internal/progress", json={}, timeout=5).status_code == 404
        assert (
            "regional prompter" not in requests.get(url + "/sdapi/v1/scripts", auth=("u", "p")).text
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
