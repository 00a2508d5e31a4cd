"""A Python client generated from the live /openapi.json by openapi-python-client runs the
brief's flow against a real hub: health, models, LoRA search, a LoRA in the session,
txt2img, polling, the result, a preset saved and applied. Every call goes through the
generated client's typed functions; if one cannot, the OpenAPI document is wrong."""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from PIL import Image
from systemhelpers import _wait_for

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def _generate(base: str, out: Path):
    """Fetch the schema, generate a client package named ``hubclient`` and import it."""
    schema = out / "openapi.json"
    schema.write_text(json.dumps(requests.get(f"{base}/openapi.json", timeout=10).json()))
    package = out / "hubclient"
    generated = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--output-path", str(package),
         "--meta", "none"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # The only warnings allowed: binary image answers, which the generator does not model.
    for block in generated.stdout.split("\n\n"):
        if block.startswith("WARNING") or "Unable to" in block or "Cannot parse" in block:
            assert "image/" in block or block.startswith("WARNING parsing GET"), block
    sys.path.insert(0, str(out))
    try:
        importlib.invalidate_caches()
        modules = {}
        for module in sorted((package / "api").glob("*/*.py")):
            if module.name != "__init__.py":
                name = f"hubclient.api.{module.parent.name}.{module.stem}"
                modules[module.stem] = importlib.import_module(name)  # every one imports
        models = importlib.import_module("hubclient.models")
        client_module = importlib.import_module("hubclient")
    finally:
        sys.path.remove(str(out))
    return client_module, modules, models


# The brief's flow for a user of its own: the hub is shared with the schemathesis run,
# whose generated requests use the document's examples ("user123") and its job cap.
USER = f"client-{uuid.uuid4().hex[:8]}"


def test_a_generated_python_client_runs_the_briefs_flow(running_hub, tmp_path):
    started = time.monotonic()
    hubclient, api, models = _generate(running_hub["base"], tmp_path)
    client = hubclient.AuthenticatedClient(
        base_url=running_hub["base"], token=running_hub["key"], raise_on_unexpected_status=True,
        timeout=30,
    )  # fmt: skip

    health = api["health_retrieve"].sync(client=client)
    assert isinstance(health, models.Health) and health.status == "ok", health

    catalog = api["models_retrieve"].sync(client=client)
    assert isinstance(catalog, models.Models), catalog
    assert any(c.title.startswith("animefull_final") for c in catalog.checkpoints)

    def lora_found():
        page = api["loras_search"].sync(client=client, search="character", limit=10)
        assert isinstance(page, models.LoraPage), page
        return page.count > 0 and page

    _wait_for(lora_found, 60)  # the start-up scan fills the catalog
    page = lora_found()
    filename = page.results[0].filename
    assert filename == "character_lora.safetensors"

    session = api["session_lora_add"].sync(
        USER, client=client,
        body=models.AddLoraRequest(filename="character_lora.safetensors", weight=0.8),
    )  # fmt: skip
    assert isinstance(session, models.Session), session
    assert session.active_loras["character_lora.safetensors"] == 0.8

    job = api["generate_txt2img_create"].sync(
        client=client,
        body=models.Txt2ImgRequestRequest(
            user_id=USER,
            prompt="beautiful anime girl, detailed face",
            negative_prompt="low quality, blurry",
            checkpoint="animefull_final.safetensors",
            width=512,
            height=768,
            steps=20,
            cfg_scale=7.0,
            sampler_name="DPM++ 2M Karras",
        ),
    )
    assert isinstance(job, models.Job), job

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = api["jobs_retrieve"].sync(job.job_id, client=client)
        assert isinstance(status, models.Job), status
        if status.status.value in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert status.status.value == "completed", status

    result = api["jobs_result_retrieve"].sync(job.job_id, client=client)
    assert isinstance(result, models.JobResult), result
    assert result.status.value == "completed"
    picture = Image.open(io.BytesIO(base64.b64decode(result.images[0])))
    assert picture.format == "PNG" and picture.size == (512, 768)
    assert "<lora:character_lora:0.8>" in result.info.prompt

    jobs = api["jobs_list"].sync(client=client, user_id=USER)
    assert jobs.count >= 1 and jobs.results[0].job_id == job.job_id

    preset = api["preset_create"].sync(
        USER, client=client,
        body=models.PresetCreateRequest(name="anime portrait", from_session=True),
    )  # fmt: skip
    assert isinstance(preset, models.Preset), preset
    assert preset.loras["character_lora.safetensors"] == 0.8

    api["session_loras_clear"].sync(USER, client=client)
    applied = api["preset_apply"].sync(USER, preset.id, client=client)
    assert isinstance(applied, models.ApplyResult), applied
    session = api["session_get"].sync(USER, client=client)
    assert session.active_loras["character_lora.safetensors"] == 0.8
    print(f"generated client flow: {time.monotonic() - started:.1f} s")
