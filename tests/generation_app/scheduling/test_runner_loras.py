"""The applied-LoRA check keyed the way A1111 keys ``Lora hashes`` — by the name
written in the tag, ':' and ',' removed — against the corrected simulator."""

from __future__ import annotations

import shutil

import pytest

from generation_app.models import Job
from loras_app.models import Lora


@pytest.fixture
def comma_lora(sim_lora_dir):
    """A copy of the sample detail_tweaker under a file name with a comma (A1111 finds it
    by its stem; the simulator rescans its folder on a miss, as A1111 does)."""
    path = sim_lora_dir / "detail, tweaker.safetensors"
    shutil.copy(sim_lora_dir / "detail_tweaker.safetensors", path)
    yield path
    path.unlink()


def run(api, cluster, prompt_name: str, filename: str = "detail_tweaker.safetensors") -> Job:
    Lora.objects.create(
        filename=filename, name="Detail Tweaker", alias="add_detail", prompt_name=prompt_name
    )
    body = {
        "user_id": "u1",
        "prompt": "a castle",
        "width": 64,
        "height": 64,
        "loras": {filename: 0.7},
    }
    response = api.post("/generate/txt2img", body, format="json")
    assert response.status_code == 202, response.json()
    cluster.drain()
    return Job.objects.get(pk=response.json()["job_id"])


@pytest.mark.parametrize(
    "prompt_name, key",
    [
        ("add_detail", "add_detail"),  # the alias (ss_output_name), as the catalog writes it
        ("detail_tweaker", "detail_tweaker"),  # the stem (an alias two files claim)
    ],
)
def test_a_lora_whose_alias_differs_from_its_file_name_is_seen_applied(
    api, backend, cluster, sim, prompt_name, key
):
    job = run(api, cluster, prompt_name)
    assert job.status == "completed", job.message
    assert f"<lora:{prompt_name}:0.7>" in job.payload["prompt"]
    assert job.info["extra_generation_params"]["Lora hashes"].startswith(f"{key}: ")
    assert not [w for w in job.warnings if "did not apply" in w], job.warnings


def test_a_tag_name_with_a_comma_is_compared_without_it(api, backend, cluster, sim, comma_lora):
    job = run(api, cluster, "detail, tweaker", filename=comma_lora.name)
    assert job.status == "completed", job.message
    assert job.info["extra_generation_params"]["Lora hashes"].startswith("detail tweaker: ")
    assert not [w for w in job.warnings if "did not apply" in w], job.warnings


def test_a_prompt_weight_a1111_cannot_parse_is_named_in_the_warning(api, backend, cluster, sim):
    Lora.objects.create(
        filename="style_lora.safetensors",
        name="Style",
        alias="style_lora",
        prompt_name="style_lora",
    )
    Lora.objects.create(
        filename="detail_tweaker.safetensors", name="Detail", alias="add_detail",
        prompt_name="add_detail",
    )  # fmt: skip
    body = {
        "user_id": "u1",
        "prompt": "a castle <lora:style_lora:strong>",
        "width": 64,
        "height": 64,
        "loras": {"detail_tweaker.safetensors": 0.5},
    }
    assert api.post("/generate/txt2img", body, format="json").status_code == 202
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed", job.message
    assert "Lora hashes" not in job.info["extra_generation_params"]  # A1111 applied none
    (warning,) = [w for w in job.warnings if "did not apply" in w]
    assert "add_detail" in warning and "<lora:style_lora:strong>" in warning
    assert "cannot parse" in warning
