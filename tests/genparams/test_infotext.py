"""genparams.infotext against real A1111 infotexts, no server.

The parser follows AUTOMATIC1111 ``modules/infotext_utils.py`` ``parse_generation_parameters``
(v1.10): the last line is the parameters only if ``re_param`` finds three or more pairs in
it, ``Negative prompt:`` starts the negative prompt, quoted values are JSON (``unquote``),
``WxH`` values become ``-1``/``-2`` keys. The key names are the ones ``modules/processing.py``
``create_infotext`` writes; ``Lora hashes`` is keyed by the tag's name
(``extensions-builtin/Lora/extra_networks_lora.py`` ``activate``).
"""

from __future__ import annotations

from genparams.infotext import KnownLora, controlnet_unit, parse_generation_parameters, to_request

# The example in parse_generation_parameters' own docstring.
A1111_DOC_EXAMPLE = (
    "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, "
    "heavy makeup, by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), "
    "detailed, intricate\n"
    "Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, "
    "disfigured, poorly drawn face, mutation, mutated, (extra_limb), (ugly), "
    "(poorly drawn hands), messy drawing\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, "
    "Model hash: 45dee52b"
)

# A v1.10 txt2img with hires fix, a LoRA and a quoted ControlNet unit.
V110 = (
    "1girl, solo, masterpiece <lora:add_detail:0.6>\n"
    "Negative prompt: lowres, bad hands\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.8, '
    "Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 100.0, Threshold B: 200.0, "
    'Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced", '
    "Denoising strength: 0.5, Clip skip: 2, Hires upscale: 2, Hires steps: 10, "
    'Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)

CATALOG = {
    "checkpoints": [
        {
            "title": "v1-5-pruned-emaonly.safetensors [6ce0161689]",
            "name": "v1-5-pruned-emaonly",
            "hash": "6ce0161689",
            "filename": "/models/v1-5-pruned-emaonly.safetensors",
        }
    ],
    "samplers": [{"name": "DPM++ 2M", "aliases": []}, {"name": "Euler a", "aliases": []}],
    "schedulers": [{"name": "karras", "label": "Karras", "aliases": []}],
    "upscalers": [{"name": "Latent"}],
    "controlnet": {"models": ["control_v11p_sd15_canny [d14c016b]"]},
}


def test_the_parsers_own_docstring_example() -> None:
    params = parse_generation_parameters(A1111_DOC_EXAMPLE)
    assert params["Prompt"].startswith("girl with an artist's beret")
    assert params["Negative prompt"].endswith("messy drawing")
    assert params["Size-1"] == "512" and params["Size-2"] == "512"
    assert params["Sampler"] == "Euler a" and params["Model hash"] == "45dee52b"


def test_a_last_line_with_fewer_than_three_pairs_is_prompt() -> None:
    """``if len(re_param.findall(lastline)) < 3: lines.append(lastline)``."""
    params = parse_generation_parameters("a cat\nstyle: oil, mood: calm")
    assert params["Prompt"] == "a cat\nstyle: oil, mood: calm"


def test_v110_infotext_maps_onto_hub_fields() -> None:
    known = [KnownLora("add_detail.safetensors", "add_detail", "7c6bad76eb54")]
    read = to_request(V110, CATALOG, known)
    assert read.request == {
        "prompt": "1girl, solo, masterpiece",
        "negative_prompt": "lowres, bad hands",
        "loras": {"add_detail.safetensors": 0.6},
        "steps": 28,
        "cfg_scale": 6.5,
        "seed": 1234,
        "width": 512,
        "height": 768,
        "denoising_strength": 0.5,
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "checkpoint": "v1-5-pruned-emaonly.safetensors [6ce0161689]",
        "clip_skip": 2,
        "enable_hr": True,
        "hr_scale": 2.0,
        "hr_second_pass_steps": 10,
        "hr_upscaler": "Latent",
        "controlnet_units": [
            {
                "module": "canny",
                "model": "control_v11p_sd15_canny [d14c016b]",
                "resize_mode": "Crop and Resize",
                "control_mode": "Balanced",
                "weight": 0.8,
                "threshold_a": 100.0,
                "threshold_b": 200.0,
                "guidance_start": 0.0,
                "guidance_end": 1.0,
                "processor_res": 512,
                "pixel_perfect": False,
            }
        ],
    }
    assert read.kind == "controlnet"
    assert not read.unused


def test_lora_found_by_its_hash_and_unknowns_warned() -> None:
    text = (
        "a cat <lora:renamed:0.7> <lora:nowhere:1>\n"
        "Steps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Model hash: ffff, "
        'Model: other, Lora hashes: "renamed: aaaabbbbcccc, nowhere: 0123"'
    )
    read = to_request(text, CATALOG, [KnownLora("x.safetensors", "x", "aaaabbbbcccc")])
    assert read.request["loras"] == {"x.safetensors": 0.7}
    assert read.request["prompt"] == "a cat"
    assert "checkpoint" not in read.request
    joined = " ".join(read.warnings)
    assert "'nowhere'" in joined and "Checkpoint 'other'" in joined


def test_legacy_sampler_name_carries_the_schedule_and_unknown_sampler_is_warned() -> None:
    """Before v1.9 the schedule was part of the name (``sd_samplers.get_sampler_and_scheduler``)."""
    text = "a\nSteps: 4, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 64x64"
    read = to_request(text, CATALOG, [])
    assert read.request["sampler_name"] == "DPM++ 2M" and read.request["scheduler"] == "Karras"
    text = "a\nSteps: 4, Sampler: UniPC, Schedule type: Automatic, CFG scale: 7, Seed: 1"
    read = to_request(text, CATALOG, [])
    assert "sampler_name" not in read.request and "scheduler" not in read.request
    assert any("Sampler 'UniPC'" in w for w in read.warnings)


def test_controlnet_unit_text() -> None:
    unit = controlnet_unit("Module: none, Model: None, Weight: 1, Pixel Perfect: True")
    assert unit == {"module": "none", "model": "None", "weight": 1.0, "pixel_perfect": True}


def test_the_linear_scanner_finds_exactly_what_a1111s_pattern_finds():
    """``param_pairs`` against ``RE_PARAM.findall`` on random lines of the characters that
    matter (word, space, colon, comma, quote, backslash, tab, - and /)."""
    import random

    from genparams.infotext import RE_PARAM, param_pairs

    rnd = random.Random(7)
    lines = ["".join(rnd.choice('ab :,"\\\t-/_1é') for _ in range(rnd.randint(0, 16))) for _ in range(30000)]  # fmt: skip
    lines += ['Steps: 20, Sampler: "DPM++ 2M", Lora hashes: "a: 1, b: 2", Size: 512x512']
    assert [param_pairs(line) for line in lines] == [RE_PARAM.findall(line) for line in lines]
