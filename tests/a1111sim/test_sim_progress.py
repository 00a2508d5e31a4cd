"""Timing behaviour: progress, the one-at-a-time queue, interrupt/skip, task ids, faults."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from simhelpers import response_schema, shape_errors


def _run_async(sim, body, results, key):
    def run():
        r = requests.post(sim.url + "/sdapi/v1/txt2img", json=body, timeout=30)
        results[key] = (time.time(), r)

    t = threading.Thread(target=run)
    t.start()
    return t


def _wait_for(predicate, timeout=20.0):
    """Poll until predicate() is truthy; the deadline only bounds a hang, nothing is timed."""
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition never became true")


def _state(sim):
    return sim.get("/sdapi/v1/progress").json()["state"]


def _wait_busy(sim):
    _wait_for(lambda: _state(sim)["job_count"] > 0)


def test_progress_during_generation(make_sim):
    sim = make_sim(step_ms=10)
    idle = sim.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["eta_relative"] == 0 and idle["state"]["job_count"] == 0
    results = {}
    t = _run_async(
        sim, {"prompt": "x", "steps": 200, "n_iter": 2, "width": 64, "height": 64}, results, "a"
    )
    _wait_busy(sim)
    seen = []

    def sample():
        p = sim.get("/sdapi/v1/progress").json()
        assert shape_errors(p, response_schema("get", "/sdapi/v1/progress")) == []
        seen.append(p)
        return p["state"]["job_no"] == 1 and p["state"]["sampling_step"] > 0

    _wait_for(sample)  # into the second of the two batches
    sim.post("/sdapi/v1/interrupt")
    t.join(timeout=30)
    assert results["a"][1].status_code == 200
    seen = [p for p in seen if p["state"]["job_count"] > 0]
    assert all(p["state"]["job_count"] == 2 and p["state"]["sampling_steps"] == 200 for p in seen)
    for p in seen:  # api.progressapi, from the same snapshot of the state
        st = p["state"]
        expected = 0.01 + st["job_no"] / 2 + st["sampling_step"] / 200 / 2
        assert p["progress"] == pytest.approx(min(expected, 1))
    progress = [p["progress"] for p in seen]
    assert progress == sorted(progress) and progress[-1] > 0.5
    assert sim.get("/sdapi/v1/progress").json()["progress"] == 0


def test_hires_doubles_job_count(make_sim):
    sim = make_sim(step_ms=10)
    results = {}
    t = _run_async(sim, {"steps": 500, "enable_hr": True, "denoising_strength": 0.5, "hr_second_pass_steps": 3, "width": 64,
                         "height": 64}, results, "a")  # fmt: skip
    _wait_busy(sim)
    assert _state(sim)["job_count"] == 2
    sim.post("/sdapi/v1/interrupt")
    t.join(timeout=30)


def test_one_generation_at_a_time_fifo(make_sim):
    """Order, not time: the second job waits in the queue until the first is interrupted."""
    sim = make_sim(step_ms=10)
    results = {}
    first = _run_async(sim, {"prompt": "first", "steps": 1000, "width": 64, "height": 64,
                             "force_task_id": "t-first"}, results, "first")  # fmt: skip
    _wait_busy(sim)
    second = _run_async(sim, {"prompt": "second", "steps": 2, "width": 64, "height": 64,
                              "force_task_id": "t-second"}, results, "second")  # fmt: skip
    pending = _wait_for(lambda: (p := sim.get("/internal/pending-tasks").json())["size"] and p)
    assert pending == {"size": 1, "tasks": ["t-second"]}
    queued = sim.post("/internal/progress", {"id_task": "t-second"}).json()
    assert (
        queued["queued"] is True
        and queued["active"] is False
        and queued["textinfo"] == "In queue: 1/1"
    )
    active = sim.post("/internal/progress", {"id_task": "t-first"}).json()
    assert shape_errors(active, response_schema("post", "/internal/progress")) == []
    assert active["active"] is True and 0 <= active["progress"] <= 1
    assert [h["status"] for h in sim.history()] == ["running", "queued"]
    sim.post("/sdapi/v1/interrupt")  # stops the first; State.begin clears it for the second
    first.join(timeout=30)
    second.join(timeout=30)
    assert results["first"][1].status_code == results["second"][1].status_code == 200
    done = sim.post("/internal/progress", {"id_task": "t-second"}).json()
    assert done["completed"] is True and done["active"] is False
    unknown = sim.post("/internal/progress", {"id_task": "nope"}).json()
    assert (
        unknown["textinfo"] == "Waiting..." and not unknown["queued"] and not unknown["completed"]
    )
    history = sim.history()
    assert [h["task_id"] for h in history] == ["t-first", "t-second"]
    assert [h["status"] for h in history] == ["interrupted", "ok"]
    assert history[0]["started_at"] < history[1]["started_at"]  # stamped under the queue lock
    assert len(results["second"][1].json()["images"]) == 1


def test_interrupt_returns_partial_result(make_sim):
    sim = make_sim(step_ms=10)
    results = {}
    t = _run_async(sim, {"steps": 1000, "n_iter": 3, "width": 64, "height": 64}, results, "a")
    _wait_for(lambda: _state(sim)["sampling_step"] > 0)
    assert sim.post("/sdapi/v1/interrupt").json() == {}
    t.join(timeout=30)
    r = results["a"][1]
    assert r.status_code == 200
    info = json.loads(r.json()["info"])
    assert len(r.json()["images"]) == 1 and len(info["all_seeds"]) == 3
    assert _state(sim)["interrupted"] is True


def test_skip_moves_to_next_batch(make_sim):
    sim = make_sim(step_ms=10)
    results = {}
    t = _run_async(sim, {"steps": 20, "n_iter": 2, "width": 64, "height": 64}, results, "a")
    _wait_busy(sim)
    assert sim.post("/sdapi/v1/skip").json() is None
    t.join(timeout=30)
    assert len(results["a"][1].json()["images"]) == 2  # whenever the skip lands


def test_model_swap_takes_time_and_options_wait_for_the_queue(make_sim):
    sim = make_sim(swap_ms=200)
    start = time.time()
    assert (
        sim.post("/sdapi/v1/options", {"sd_model_checkpoint": "sd_xl_base_1.0"}).status_code == 200
    )
    assert time.time() - start >= 0.2
    timings = []
    for override in ({}, {"sd_model_checkpoint": "animefull_final"}, {}):
        start = time.time()
        sim.txt2img(steps=1, width=64, height=64, override_settings=override)
        timings.append(time.time() - start)
    # a swap there and back: the model each job ran on, and (lower bounds only) the swap time
    assert [h["checkpoint"].split(" [")[0] for h in sim.history()] == [
        "sd_xl_base_1.0.safetensors", "animefull_final.safetensors", "sd_xl_base_1.0.safetensors",
    ]  # fmt: skip
    assert timings[1] >= 0.2 and timings[2] >= 0.2
    state = sim.get("/sim/state").json()
    assert state["loaded_checkpoint"].startswith("sd_xl_base_1.0")


def test_fault_error_rate_and_count(sim):
    state = sim.post("/sim/faults", {"fail_rate": 1.0, "count": 2}).json()
    assert state["fail_rate"] == 1.0 and state["routes"] == [
        "/sdapi/v1/txt2img",
        "/sdapi/v1/img2img",
    ]
    for _ in range(2):
        r = sim.post("/sdapi/v1/txt2img", {"steps": 1, "width": 64, "height": 64})
        assert r.status_code == 500
        assert r.json()["error"] == "RuntimeError" and "CUDA out of memory" in r.json()["errors"]
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1, "width": 64, "height": 64}).status_code == 200
    assert sim.get("/sim/state").json()["faults"]["count"] == 0
    sim.post("/sim/faults", {"fail_rate": 1, "fail_status": 503, "fail_message": "boom",
                             "routes": ["/sdapi/v1/sd-models"], "count": None})  # fmt: skip
    r = sim.get("/sdapi/v1/sd-models")
    assert r.status_code == 503 and r.json()["errors"] == "boom"
    assert sim.post("/sim/reset").status_code == 200
    assert sim.get("/sdapi/v1/sd-models").status_code == 200
    assert sim.post("/sim/faults", {"fail_rate": 2}).status_code == 422


def test_fault_hang_and_drop(sim):
    sim.post("/sim/faults", {"hang_seconds": 0.3, "count": 1})
    start = time.time()
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1, "width": 64, "height": 64}).status_code == 200
    assert time.time() - start >= 0.3
    sim.post("/sim/faults", {"drop_connection": True, "count": 1})
    with pytest.raises(requests.ConnectionError):
        requests.post(sim.url + "/sdapi/v1/txt2img", json={"steps": 1}, timeout=5)
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1, "width": 64, "height": 64}).status_code == 200


def test_fault_cli_fail_rate(make_sim):
    sim = make_sim(fail_rate=1.0)
    assert sim.post("/sdapi/v1/txt2img", {"steps": 1}).status_code == 500
    assert sim.get("/sdapi/v1/samplers").status_code == 200
