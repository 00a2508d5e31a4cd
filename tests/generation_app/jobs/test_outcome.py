"""The warnings a completed job gets, read from the job and its result alone."""

from __future__ import annotations

from generation_app.jobs.outcome import completion_warnings
from generation_app.models import Job


def _controlnet_job(*units: dict) -> Job:
    return Job(
        kind=Job.Kind.CONTROLNET,
        payload={"prompt": "x", "alwayson_scripts": {"controlnet": {"args": list(units)}}},
        info={},
    )


def test_a_controlnet_job_short_of_detected_maps_is_warned_that_its_units_were_not_applied():
    job = _controlnet_job({"enabled": True}, {"enabled": True}, {"enabled": False})
    (warning,) = completion_warnings(job, maps=1)
    assert "1 detected map(s) for 2 unit(s) (0, 1)" in warning and "NOT applied" in warning
    assert completion_warnings(job, maps=2) == []


def test_units_that_return_no_map_by_request_are_not_expected_to():
    job = _controlnet_job({"enabled": True, "save_detected_map": False})
    assert completion_warnings(job, maps=0) == []


def test_a_lora_a1111_did_not_apply_is_named_with_what_to_check():
    job = Job(
        kind=Job.Kind.TXT2IMG,
        payload={"prompt": "a castle <lora:add_detail:0.7>"},
        info={"requested_loras": {"add_detail": 0.7}, "extra_generation_params": {}},
    )
    (warning,) = completion_warnings(job, maps=0)
    assert warning.startswith("A1111 did not apply LoRA(s) add_detail") and "--lora-dir" in warning
    applied = {"extra_generation_params": {"Lora hashes": "add_detail: 0123456789ab"}}
    job.info = {"requested_loras": {"add_detail": 0.7}, **applied}
    assert completion_warnings(job, maps=0) == []
