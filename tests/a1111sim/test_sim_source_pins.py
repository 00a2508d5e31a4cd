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


# --- corrections read from the real sources ------------------------------------------------

import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from simhelpers import decode, encode, test_image  # noqa: E402

from a1111sim import regional  # noqa: E402
from a1111sim.__main__ import parse_args  # noqa: E402
from a1111sim.loras import write_safetensors  # noqa: E402

CN = {"prompt": "pose", "steps": 1, "width": 64, "height": 64, "seed": 1}


def _cn_body(*units, **body):
    return {**CN, **body, "alwayson_scripts": {"ControlNet": {"args": list(units)}}}


def _pixels(b64):
    return decode(b64).convert("RGB").tobytes()


def test_controlnet_runtime_failures_are_silent(sim):
    """A1111 v1.10 modules/scripts.py ScriptRunner.process (errors.report, no raise);
    sd-webui-controlnet v1.1.455 scripts/controlnet.py Script.controlnet_main_entry: per unit
    check_sd_version_compatible, load_control_model (build_control_model: 'You have not selected
    any ControlNet Model.' / 'model not found'), get_control -> choose_input_image ('controlnet is
    enabled but no input image is given'); the UnetHook and self.detected_map are only set after
    the loop, and get_enabled_units has already written the 'ControlNet N' infotext."""
    img = encode(test_image(64, 64))
    plain = sim.post("/sdapi/v1/txt2img", CN).json()["images"][0]
    good = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    cases = [
        ({"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny"},),  # no image
        ({**good, "model": "None"},),
        ({**good, "model": "nope"},),
        (good, {**good, "model": "nope"}),  # one bad unit: no unit applied at all
    ]
    for units in cases:
        r = sim.post("/sdapi/v1/txt2img", _cn_body(*units))
        assert r.status_code == 200, (units, r.text)
        body = r.json()
        info = json.loads(body["info"])
        assert len(body["images"]) == 1, units  # no detected maps
        assert _pixels(body["images"][0]) == _pixels(plain), units  # nothing applied
        for i in range(len(units)):
            assert info["extra_generation_params"][f"ControlNet {i}"].startswith("Module: canny")
            assert f"ControlNet {i}: " in info["infotexts"][0]
    # the same unit with an image works
    ok = sim.post("/sdapi/v1/txt2img", _cn_body(good)).json()
    assert len(ok["images"]) == 2


def test_controlnet_sd_version_mismatch_is_silent(sim):
    """sd-webui-controlnet v1.1.455 scripts/controlnet.py check_sd_version_compatible and
    scripts/enums.py StableDiffusionVersion.detect_from_model_name (sd14/15/16 -> SD1, 'xl' ->
    SDXL, else unknown and unchecked); the raise is caught by ScriptRunner.process."""
    models = [m["title"] for m in sim.get("/sdapi/v1/sd-models").json()]
    assert any("xl" in t.lower() for t in models) and any("xl" not in t.lower() for t in models)
    cn_models = sim.get("/controlnet/model_list").json()["model_list"]
    assert "diffusers_xl_canny_mid [112a778d]" in cn_models
    assert "control_v11p_sd15_canny [d14c016b]" in cn_models
    img = encode(test_image(64, 64))
    sd15 = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    xl = {**sd15, "model": "diffusers_xl_canny_mid"}
    on_xl = {"override_settings": {"sd_model_checkpoint": "sd_xl_base_1.0"}}
    for unit, extra, maps in ((sd15, on_xl, 0), (xl, {}, 0), (xl, on_xl, 1), (sd15, {}, 1)):
        r = sim.post("/sdapi/v1/txt2img", _cn_body(unit, **extra))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["images"]) == 1 + maps, (unit["model"], extra)
        assert "ControlNet 0" in json.loads(body["info"])["extra_generation_params"]


def test_controlnet_validation_errors_carry_pydantic_context(sim):
    """pydantic v1 error_wrappers.display_errors: '(type=...; limit_value=2.0)'; the unit model
    is internal_controlnet/args.py ControlNetUnit (weight Field(ge=0.0, le=2.0))."""
    img = encode(test_image(64, 64))
    unit = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    r = sim.post("/sdapi/v1/txt2img", _cn_body({**unit, "weight": 2.5}))
    assert r.status_code == 500 and r.json()["error"] == "ValidationError"
    assert "(type=value_error.number.not_le; limit_value=2.0)" in r.json()["errors"]
    r = sim.post("/sdapi/v1/txt2img", _cn_body({**unit, "control_mode": "Bogus"}))
    assert (
        "type=type_error.enum; enum_values=[<ControlMode.BALANCED: 'Balanced'>"
        in r.json()["errors"]
    )


def test_controlnet_unit_count_fixed_at_start(make_sim):
    """sd-webui-controlnet v1.1.455 scripts/controlnet.py Script.ui reads control_net_unit_count
    once, when the UI is built (the script's arg slots); the option needs_reload_ui, so neither
    POST /options nor override_settings change how many units a job uses. /controlnet/settings
    (scripts/api.py settings -> external_code.get_max_models_num) reports the option value."""
    sim = make_sim(controlnet_unit_count=2)
    assert sim.get("/controlnet/settings").json() == {"control_net_unit_count": 2}
    img = encode(test_image(64, 64))
    unit = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    r = sim.post("/sdapi/v1/txt2img", _cn_body(unit, unit, unit))
    assert len(r.json()["images"]) == 1 + 2
    r = sim.post("/sdapi/v1/txt2img", _cn_body(unit, unit, unit,
                                               override_settings={"control_net_unit_count": 3}))  # fmt: skip
    assert len(r.json()["images"]) == 1 + 2
    assert sim.post("/sdapi/v1/options", {"control_net_unit_count": 3}).status_code == 200
    assert sim.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    r = sim.post("/sdapi/v1/txt2img", _cn_body(unit, unit, unit))
    assert len(r.json()["images"]) == 1 + 2
    assert parse_args(["--controlnet-unit-count", "5"]).controlnet_unit_count == 5


def test_controlnet_detect_checks_unsupported_before_images(sim):
    """sd-webui-controlnet v1.1.455 scripts/api.py detect: 'Module not available', then 'Module
    not supported', then 'No image selected'."""
    r = sim.post("/controlnet/detect", {"controlnet_module": "ip-adapter-auto"})
    assert r.status_code == 422 and r.json()["detail"] == "Module not supported"


def test_lora_hashes_keyed_by_the_name_in_the_tag(sim):
    """A1111 v1.10 extensions-builtin/Lora/extra_networks_lora.py activate: p.lora_hashes is keyed
    by item.mentioned_name (networks.load_networks sets it to the name as written) with ':' and ','
    removed, so two spellings of one file give two entries."""
    small = {"steps": 1, "width": 64, "height": 64, "seed": 1}
    _, info = sim.txt2img(prompt="x <lora:detail_tweaker:0.5>", **small)
    hashes = info["extra_generation_params"]["Lora hashes"]
    assert re.fullmatch(r"detail_tweaker: [0-9a-f]{12}", hashes), hashes
    short = hashes.split(": ")[1]
    _, info = sim.txt2img(prompt="x <lora:add_detail:0.5> <lora:detail_tweaker:1>", **small)
    assert info["extra_generation_params"]["Lora hashes"] == (
        f"add_detail: {short}, detail_tweaker: {short}"
    )


def test_lora_miss_rescans_the_folder(make_sim, tmp_path):
    """A1111 v1.10 extensions-builtin/Lora/networks.py load_networks: when a name is not in
    available_network_aliases it calls list_available_networks() and looks again."""
    sim = make_sim(lora_dir=str(tmp_path))
    small = {"steps": 1, "width": 64, "height": 64, "seed": 1}
    _, info = sim.txt2img(prompt="x <lora:late_arrival:1>", **small)
    assert "Lora hashes" not in info["extra_generation_params"]
    write_safetensors(tmp_path / "late_arrival.safetensors", {}, b"", {"ss_output_name": "late"})
    _, info = sim.txt2img(prompt="x <lora:late_arrival:1>", **small)
    assert info["extra_generation_params"]["Lora hashes"].startswith("late_arrival: ")
    assert "late_arrival" in {e["name"] for e in sim.get("/sdapi/v1/loras").json()}


def test_lora_bad_weight_applies_no_lora(sim):
    """A1111 v1.10 modules/extra_networks.py activate catches the ValueError of float('abc') in
    ExtraNetworkLora.activate (errors.display) and then activates lora with an empty list: 200,
    no LoRA at all, no 'Lora hashes'."""
    small = {"steps": 1, "width": 64, "height": 64, "seed": 1}
    body, info = sim.txt2img(prompt="x <lora:style_lora:abc> <lora:character_lora:1>", **small)
    assert "Lora hashes" not in info["extra_generation_params"]
    plain, _ = sim.txt2img(prompt="x <lora:style_lora:abc> <lora:nothing_here:1>", **small)
    assert _pixels(body["images"][0]) == _pixels(plain["images"][0])


def test_unknown_alwayson_script_and_check_order(sim):
    """A1111 v1.10 modules/api/api.py init_script_args -> get_script -> script_name_to_index:
    422 "Script 'foo' not found"; img2imgapi checks init_images (404) and decodes the mask before
    any script lookup."""
    small = {"steps": 1, "width": 64, "height": 64}
    scripts = {"alwayson_scripts": {"foo": {"args": []}}}
    r = sim.post("/sdapi/v1/txt2img", {**small, **scripts})
    assert r.status_code == 422 and r.json()["detail"] == "Script 'foo' not found"
    r = sim.post("/sdapi/v1/img2img", {**small, **scripts})
    assert r.status_code == 404 and r.json()["detail"] == "Init image not found"
    img = encode(test_image(64, 64))
    r = sim.post("/sdapi/v1/img2img", {**small, **scripts, "init_images": [img], "mask": "bad!"})
    assert r.status_code == 500 and r.json()["detail"] == "Invalid encoded image"
    r = sim.post("/sdapi/v1/img2img", {**small, **scripts, "init_images": [img]})
    assert r.status_code == 422 and r.json()["detail"] == "Script 'foo' not found"


def _rp(*args):
    return {"Regional Prompter": {"args": list(args)}}


def test_regional_prompter_infotext_and_fallbacks(sim):
    """hako-mikan/sd-webui-regional-prompter scripts/rp.py Script.process: the raw args go to
    extra_generation_params ('RP Options' is ','.join(options) or 'No Options', options split on
    ',' without stripping); the threshold Textbox defaults to 0.4 ('0.4'); scripts/regions.py
    matrixdealer parses ratios with floatdef (a bad number becomes 1, a bad base ratio 0)."""
    body = {"prompt": "a ADDBASE b BREAK c", "steps": 1, "width": 64, "height": 64, "seed": 2}
    args = [True, False, "Matrix", "Horizontal", "Mask", "Prompt", "1,x", "zz", False, False]
    r = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp(*args)})
    assert r.status_code == 200, r.text
    extra = json.loads(r.json()["info"])["extra_generation_params"]
    assert extra["RP Matrix submode"] == "Horizontal" and extra["RP Ratios"] == "1,x"
    assert extra["RP Use Base"] is False and extra["RP Use Common"] is False  # raw args
    assert extra["RP Options"] == "No Options" and extra["RP threshold"] == "0.4"
    assert extra["RP Flip"] is False
    args += [False, "Attention", "Flip prompts, debug", "0", "0", "0.6", "", "0", "0", True]
    r = sim.post("/sdapi/v1/txt2img", {**body, "alwayson_scripts": _rp(*args)})
    assert r.status_code == 200, r.text
    extra = json.loads(r.json()["info"])["extra_generation_params"]
    assert extra["RP Options"] == "Flip prompts" and extra["RP threshold"] == "0.6"
    assert regional._ratios("1,,x;2") == [[1.0, 1.0, 1.0], [2.0]]  # empty and bad cells are 1
    assert extra["RP Flip"] is True
    text = json.loads(r.json()["info"])["infotexts"][0]
    assert "RP Use Base: False" in text and "RP Flip: True" in text


def test_extra_generation_params_schedule_type_and_hires(sim):
    """A1111 v1.10 modules/sd_samplers_kdiffusion.py KDiffusionSampler.get_sigmas sets
    extra_generation_params['Schedule type'] only for a real (non-Automatic) schedule, and
    'Hires schedule type' in the hires pass when it differs; timestep samplers (DDIM, PLMS, UniPC)
    never do. modules/processing.py StableDiffusionProcessingTxt2Img.init puts 'Hires prompt' and
    'Hires negative prompt' (callables, null in Processed.js) and 'Hires schedule type' (None)
    before 'Hires upscale'; create_infotext prints the hires prompt only when it differs."""
    small = {"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1}
    for fields, expected in (
        ({"sampler_name": "Euler"}, None),
        ({"sampler_name": "DPM++ 2M"}, "Karras"),
        ({"sampler_name": "Euler", "scheduler": "Exponential"}, "Exponential"),
        ({"sampler_name": "DDIM", "scheduler": "Karras"}, None),
    ):
        _, info = sim.txt2img(**small, **fields)
        assert info["extra_generation_params"].get("Schedule type") == expected, fields
        assert "Schedule type: " in info["infotexts"][0]
    hires = {**small, "enable_hr": True, "denoising_strength": 0.5, "hr_scale": 1.5}
    _, info = sim.txt2img(**hires, sampler_name="Euler")
    extra = info["extra_generation_params"]
    keys = list(extra)
    assert keys[keys.index("Denoising strength") :][:5] == [
        "Denoising strength", "Hires prompt", "Hires negative prompt", "Hires schedule type",
        "Hires upscale",
    ]  # fmt: skip
    assert extra["Hires prompt"] is None and extra["Hires schedule type"] is None
    assert "Hires prompt" not in info["infotexts"][0]
    _, info = sim.txt2img(**hires, sampler_name="DPM++ 2M", hr_scheduler="Exponential",
                          hr_prompt="other")  # fmt: skip
    assert info["extra_generation_params"]["Hires schedule type"] == "Exponential"
    assert info["extra_generation_params"]["Hires prompt"] is None
    assert "Hires prompt: other" in info["infotexts"][0]
    assert "Hires schedule type: Exponential" in info["infotexts"][0]
    _, info = sim.txt2img(**hires, sampler_name="DPM++ 2M Karras", hr_sampler_name="DPM++ 2M")
    assert "Hires sampler" not in info["extra_generation_params"]  # same as the resolved name
    _, info = sim.txt2img(**hires, sampler_name="Euler", hr_sampler_name="Euler a")
    assert info["extra_generation_params"]["Hires sampler"] == "Euler a"


def test_script_params_come_before_hires_mask_blur_and_lora_hashes(sim):
    """A1111 v1.10 modules/processing.py process_images_inner: p.scripts.process(p) (ControlNet,
    Regional Prompter) runs before p.init (hires params, mask blur), and extra_networks.activate
    ('Lora hashes') runs later, per batch."""
    img = encode(test_image(64, 64))
    unit = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": img}
    body = _cn_body(unit, prompt="x <lora:style_lora:1>", enable_hr=True, denoising_strength=0.5,
                    hr_scale=1.5)  # fmt: skip
    r = sim.post("/sdapi/v1/txt2img", body)
    text = json.loads(r.json()["info"])["infotexts"][0]
    assert text.index("ControlNet 0") < text.index("Hires upscale") < text.index("Lora hashes")
    body = _cn_body(unit, prompt="x <lora:style_lora:1>", init_images=[img], mask=img)
    r = sim.post("/sdapi/v1/img2img", body)
    text = json.loads(r.json()["info"])["infotexts"][0]
    assert text.index("ControlNet 0") < text.index("Mask blur") < text.index("Lora hashes")


def _start(sim, body):
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault("r", sim.http.post(sim.url + "/sdapi/v1/txt2img", json=body))
    )
    t.start()
    return t, box


def _wait_for(predicate, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition never became true")


def test_live_previews(make_sim):
    """A1111 v1.10 modules/shared_state.py State.set_current_image (a new preview once
    show_progress_every_n_steps steps have passed since the last one, id_live_preview += 1),
    modules/api/api.py progressapi (current_image unless skip_current_image) and
    modules/progress.py progressapi (live_preview data URI in live_previews_image_format, only
    when the caller's id_live_preview differs)."""
    sim = make_sim(step_ms=10)
    import requests

    other = requests.Session()
    t, box = _start(sim, {"prompt": "x", "steps": 1000, "width": 64, "height": 64,
                          "force_task_id": "live"})  # fmt: skip
    progress = _wait_for(
        lambda: (p := other.get(sim.url + "/sdapi/v1/progress").json())["current_image"] and p
    )
    assert progress["state"]["sampling_step"] >= 10
    preview = decode(progress["current_image"])
    assert preview.format == "PNG" and max(preview.size) <= 64
    skipped = other.get(sim.url + "/sdapi/v1/progress?skip_current_image=true").json()
    assert skipped["current_image"] is None
    first = other.post(sim.url + "/internal/progress", json={"id_task": "live"}).json()
    assert first["live_preview"].startswith("data:image/png;base64,")
    assert first["id_live_preview"] >= 1
    same = other.post(sim.url + "/internal/progress",
                      json={"id_task": "live", "id_live_preview": first["id_live_preview"]}).json()  # fmt: skip
    # a newer preview needs 10 more steps; until then nothing new is sent
    assert same["live_preview"] is None or same["id_live_preview"] > first["id_live_preview"]
    later = _wait_for(
        lambda: (
            (
                p := other.post(
                    sim.url + "/internal/progress",
                    json={"id_task": "live", "id_live_preview": first["id_live_preview"]},
                ).json()
            )["live_preview"]
            and p
        )  # fmt: skip
    )
    assert later["id_live_preview"] > first["id_live_preview"]
    off = other.post(
        sim.url + "/internal/progress", json={"id_task": "live", "live_preview": False}
    )
    assert off.json()["live_preview"] is None
    other.post(sim.url + "/sdapi/v1/interrupt")
    t.join(timeout=20)
    assert box["r"].status_code == 200
    sim.post("/sdapi/v1/options", {"show_progress_every_n_steps": -1})
    t, box = _start(sim, {"prompt": "x", "steps": 1000, "width": 64, "height": 64})
    _wait_for(
        lambda: other.get(sim.url + "/sdapi/v1/progress").json()["state"]["sampling_step"] > 20
    )
    assert other.get(sim.url + "/sdapi/v1/progress").json()["current_image"] is None
    other.post(sim.url + "/sdapi/v1/interrupt")
    t.join(timeout=20)


def test_generated_task_ids_look_like_a1111s(sim):
    """A1111 v1.10 modules/progress.py create_task_id: f'task({task_type}-{7 of A-Z0-9})'."""
    sim.txt2img(prompt="x", steps=1, width=64, height=64)
    sim.post("/sdapi/v1/img2img", {"steps": 1, "width": 64, "height": 64,
                                   "init_images": [encode(test_image(64, 64))]})  # fmt: skip
    ids = [h["task_id"] for h in sim.history()]
    assert re.fullmatch(r"task\(txt2img-[A-Z0-9]{7}\)", ids[0]), ids
    assert re.fullmatch(r"task\(img2img-[A-Z0-9]{7}\)", ids[1]), ids


def test_interrupt_sets_the_flag_even_when_idle(sim):
    """A1111 v1.10 modules/api/api.py interruptapi -> shared_state.State.interrupt: no job check;
    State.begin clears it for the next job."""
    assert sim.post("/sdapi/v1/interrupt").json() == {}
    assert sim.get("/sdapi/v1/progress").json()["state"]["interrupted"] is True
    body, info = sim.txt2img(prompt="x", steps=2, width=64, height=64)
    assert len(body["images"]) == 1
    assert sim.get("/sdapi/v1/progress").json()["state"]["interrupted"] is False


def test_png_info_needs_a_decodable_image(sim):
    """A1111 v1.10 modules/api/api.py pnginfoapi decodes req.image.strip() first:
    decode_base64_to_image raises HTTPException(500, 'Invalid encoded image'); the model's
    image field is required (422 when missing)."""
    r = sim.post("/sdapi/v1/png-info", {"image": ""})
    assert r.status_code == 500 and r.json()["detail"] == "Invalid encoded image"
    assert sim.post("/sdapi/v1/png-info", {}).status_code == 422


def test_hires_type_error_after_the_first_pass(make_sim):
    """A1111 v1.10 modules/processing.py StableDiffusionProcessingTxt2Img.sample runs the first
    pass, then sample_hr_pass -> sampler.sample_img2img -> sd_samplers_common.setup_img2img_steps
    compares denoising_strength (None from the API) with 0: the TypeError comes after the first
    pass's steps have been spent."""
    sim = make_sim(step_ms=20)
    start = time.time()
    r = sim.post("/sdapi/v1/txt2img", {"steps": 10, "width": 64, "height": 64, "enable_hr": True})
    assert r.status_code == 500 and r.json()["error"] == "TypeError"
    assert time.time() - start >= 10 * 0.02


def test_seed_loras_without_lora_dir_is_a_usage_error(capsys):
    """The simulator's own CLI: a clear argparse error, not a traceback."""
    with pytest.raises(SystemExit) as exc:
        parse_args(["--seed-loras"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--seed-loras" in err and "--lora-dir" in err
