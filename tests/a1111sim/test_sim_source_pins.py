"""Behaviours checked against the real sources (A1111 v1.10.x, ControlNet v1.1.455, RP).

Each test names the source file and function that decides it.
"""

from __future__ import annotations

import json

SMALL = {"steps": 1, "width": 64, "height": 64, "seed": 5}


def test_info_and_infotext_keep_extra_network_tags(sim):
    # processing.py: parse_extra_network_prompts only rewrites p.prompts; Processed.js reports
    # all_prompts[0] / all_prompts and create_infotext prints all_prompts[index] unchanged.
    prompt = "girl <lora:style_lora:0.7> smiling"
    _, info = sim.txt2img(prompt=prompt, **SMALL)
    assert info["prompt"] == prompt and info["all_prompts"] == [prompt]
    assert info["infotexts"][0].splitlines()[0] == prompt


def test_txt2img_denoising_strength_is_null_unless_sent(sim):
    # api/models.py merge_class_params lets the base StableDiffusionProcessing default (None)
    # win over the txt2img subclass's 0.75; only img2img adds an explicit 0.75 field. Processed
    # copies p.denoising_strength, and create_infotext's "Denoising strength" slot reads
    # extra_generation_params (set only for hires / img2img).
    r = sim.post("/sdapi/v1/txt2img", {"prompt": "x", **SMALL})
    body = r.json()
    info = json.loads(body["info"])
    assert body["parameters"]["denoising_strength"] is None
    assert info["denoising_strength"] is None
    assert "Denoising strength" not in info["infotexts"][0]
    _, info = sim.txt2img(prompt="x", denoising_strength=0.4, **SMALL)
    assert info["denoising_strength"] == 0.4
    assert "Denoising strength" not in info["infotexts"][0]


def test_hires_denoising_strength_sits_in_its_fixed_infotext_slot(sim):
    # processing.py create_infotext: "Denoising strength" follows "Seed resize from" and comes
    # before the **extra_generation_params tail (Hires upscale, ...).
    _, info = sim.txt2img(prompt="x", enable_hr=True, denoising_strength=0.5, hr_scale=1.5,
                          **SMALL)  # fmt: skip
    text = info["infotexts"][0]
    assert text.index("Denoising strength: 0.5") < text.index("Hires upscale")
    assert text.index("Size: ") < text.index("Denoising strength")
    # without denoising_strength the hires pass fails: setup_img2img_steps does `None > 0`
    r = sim.post("/sdapi/v1/txt2img", {"prompt": "x", "enable_hr": True, **SMALL})
    assert r.status_code == 500 and r.json()["error"] == "TypeError"


def test_schedule_type_in_infotext(sim):
    # sd_samplers.get_sampler_and_scheduler folds a sampler's default scheduler into Automatic;
    # create_infotext prints p.scheduler and sd_samplers_kdiffusion get_sigmas overwrites it
    # with the effective label whenever that is not Automatic.
    cases = [
        ({"sampler_name": "DPM++ 2M"}, "Schedule type: Karras"),
        ({"sampler_name": "DPM++ 2M", "scheduler": "Karras"}, "Schedule type: Karras"),
        ({"sampler_name": "DPM++ 2M", "scheduler": "Uniform"}, "Schedule type: Uniform"),
        ({"sampler_name": "Euler"}, "Schedule type: Automatic"),
        ({"sampler_name": "Euler", "scheduler": "karras"}, "Schedule type: Karras"),
        ({"sampler_name": "Euler Karras"}, "Schedule type: Karras"),
        # sd_schedulers.schedulers_map holds names and labels only, not aliases
        ({"sampler_name": "Euler", "scheduler": "SGMUniform"}, "Schedule type: Automatic"),
        ({"sampler_name": "Euler SGMUniform"}, "Schedule type: SGM Uniform"),
    ]
    for fields, expected in cases:
        _, info = sim.txt2img(prompt="x", **SMALL, **fields)
        assert expected in info["infotexts"][0], (fields, info["infotexts"][0])


def test_unknown_sampler_falls_back_silently(sim):
    # sd_samplers.get_sampler_and_scheduler: unknown name -> samplers[0] (DPM++ 2M), no error and
    # nothing in the response; api.text2imgapi echoes vars(txt2imgreq), i.e. the name as sent.
    r = sim.post("/sdapi/v1/txt2img", {"prompt": "x", "sampler_name": "Bogus", **SMALL})
    assert r.status_code == 200
    body = r.json()
    info = json.loads(body["info"])
    assert info["sampler_name"] == "DPM++ 2M"
    assert body["parameters"]["sampler_name"] == "Bogus"
    assert "Sampler: DPM++ 2M, Schedule type: Karras" in info["infotexts"][0]
    assert "warn" not in body["info"].lower()


def test_progress_idle_shape(sim):
    # api.progressapi: job_count == 0 -> progress 0, eta_relative 0, textinfo = state.textinfo
    idle = sim.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["eta_relative"] == 0
    assert idle["textinfo"] is None and idle["current_image"] is None
