"""The payload builder: (request, session, preset, catalog, defaults) -> A1111 payload.

Pure functions, no database and no HTTP, so every merge rule is testable on its own.
The merge order is: server defaults < the user's custom settings < the preset < the
request. LoRAs become ``<lora:NAME:WEIGHT>`` tags with the name A1111 resolves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from genparams.adetailer import script_args as adetailer_script_args
from loras_app.rules import unusable_reason

# Request fields that are not A1111 fields of the same name.
HUB_ONLY_FIELDS = {
    "user_id",
    "preset_id",
    "loras",
    "use_session_loras",
    "checkpoint",
    "vae",
    "clip_skip",
    "batch_count",
    "controlnet_units",
    "regional_config",
    "outpaint",
    "live_preview",
    "webhook_url",
    "face_restorer",
    "codeformer_weight",
    "adetailer",
}

HIRES_DENOISING_DEFAULT = 0.7  # A1111's UI default for the hires pass

LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::[^>]*)?>")


@dataclass(frozen=True)
class LoraRef:
    """What the payload builder needs to know about one catalog LoRA."""

    filename: str
    prompt_name: str
    enabled: bool = True
    missing: bool = False


@dataclass
class BuildInputs:
    kind: str
    request: dict[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    custom_settings: dict[str, Any] = field(default_factory=dict)
    preset_params: dict[str, Any] = field(default_factory=dict)
    session_loras: dict[str, float] = field(default_factory=dict)
    preset_loras: dict[str, float] = field(default_factory=dict)
    catalog_loras: dict[str, LoraRef] = field(default_factory=dict)
    checkpoint_titles: dict[str, str] = field(default_factory=dict)
    task_id: str = ""


@dataclass
class BuiltPayload:
    payload: dict[str, Any]
    warnings: list[str]
    loras: dict[str, float]  # prompt name -> weight, what the hub asked A1111 to apply
    total_steps: int


def merge_params(inputs: BuildInputs) -> dict[str, Any]:
    """Server defaults < custom settings < preset < request (None means "not given").

    The server's default scheduler belongs to its default sampler: a user who picks
    another sampler without a scheduler gets A1111's "Automatic" for it, not ours.
    """
    defaults = dict(inputs.defaults)
    layers = (inputs.custom_settings, inputs.preset_params, inputs.request)
    if any(layer.get("sampler_name") for layer in layers):
        defaults.pop("scheduler", None)
    merged: dict[str, Any] = {}
    for layer in (defaults, *layers):
        merged.update({k: v for k, v in layer.items() if v is not None})
    return merged


def merge_loras(inputs: BuildInputs) -> dict[str, float]:
    """Session < preset < request; ``use_session_loras: false`` leaves the session's out."""
    loras: dict[str, float] = {}
    if inputs.request.get("use_session_loras", True):
        loras.update(inputs.session_loras)
    loras.update(inputs.preset_loras)
    loras.update(inputs.request.get("loras") or {})
    return loras


def format_weight(weight: float) -> str:
    """A weight as A1111 parses it (``float()`` in ``ExtraNetworkLora.activate``): plain
    decimals, at most three places, never ``1e-05``, ``nan``, ``inf`` or ``-0``. A weight
    that does not parse would make A1111 apply no LoRA at all, silently."""
    value = float(weight)
    if not math.isfinite(value):
        raise ValueError(f"LoRA weight {weight!r} is not a finite number.")
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def lora_hashes_key(name: str) -> str:
    """How A1111 keys ``Lora hashes``: the name as written in the tag (``mentioned_name``)
    with ``:`` and ``,`` removed (``extra_networks_lora.py`` ``activate``)."""
    return name.replace(":", "").replace(",", "")


def prompt_lora_names(prompt: str) -> set[str]:
    return {match.group(1) for match in LORA_TAG.finditer(prompt or "")}


def add_lora_tags(
    prompt: str, loras: dict[str, float], catalog: dict[str, LoraRef]
) -> tuple[str, dict[str, float], list[str]]:
    """Append a tag per usable LoRA, never twice, and say which ones were left out."""
    warnings: list[str] = []
    applied: dict[str, float] = {}
    present = prompt_lora_names(prompt)
    tags = []
    for filename, weight in loras.items():
        ref = catalog.get(filename)
        reason = (
            unusable_reason(known=True, enabled=ref.enabled, missing=ref.missing)
            if ref
            else unusable_reason(known=False)
        )
        if reason:
            warnings.append(f"LoRA {filename!r} {reason}; it was left out.")
            continue
        applied[ref.prompt_name] = float(weight)
        if ref.prompt_name not in present:
            tags.append(f"<lora:{ref.prompt_name}:{format_weight(weight)}>")
    prompt = " ".join(part for part in [prompt.strip(), " ".join(tags)] if part)
    return prompt, applied, warnings


def expected_steps(payload: dict[str, Any]) -> int:
    """Sampling steps A1111 will report in total, for progress and ETA."""
    steps = int(payload.get("steps") or 50)
    iterations = int(payload.get("n_iter") or 1)
    if payload.get("init_images") is not None:
        steps = max(1, int(steps * float(payload.get("denoising_strength", 0.75))))
    total = steps * iterations
    if payload.get("enable_hr"):
        second = int(payload.get("hr_second_pass_steps") or 0) or int(payload.get("steps") or 50)
        total += second * iterations
    return total


def other_a1111_fields(
    params: dict[str, Any], payload: dict[str, Any], override: dict[str, Any],
    titles: dict[str, str],
) -> None:  # fmt: skip
    """A1111's other fields: the refiner's title, the face restorer and CodeFormer weight
    (settings ``face_restoration_model``/``code_former_weight``), ADetailer's script."""
    if params.get("refiner_checkpoint"):
        payload["refiner_checkpoint"] = titles.get(
            params["refiner_checkpoint"], params["refiner_checkpoint"]
        )
    if params.get("face_restorer"):
        override["face_restoration_model"] = params["face_restorer"]
    if params.get("codeformer_weight") is not None:
        override["code_former_weight"] = params["codeformer_weight"]
    if params.get("adetailer"):
        scripts = dict(payload.get("alwayson_scripts") or {})
        scripts.update(adetailer_script_args(params["adetailer"]))
        payload["alwayson_scripts"] = scripts


def build_payload(inputs: BuildInputs) -> BuiltPayload:
    """The exact body for /sdapi/v1/txt2img or /img2img."""
    params = merge_params(inputs)
    payload = {k: v for k, v in params.items() if k not in HUB_ONLY_FIELDS}
    override: dict[str, Any] = dict(payload.pop("override_settings", None) or {})

    checkpoint = params.get("checkpoint")
    if checkpoint:
        # Send the title: it is always an exact alias, so A1111 cannot silently drop it.
        override["sd_model_checkpoint"] = inputs.checkpoint_titles.get(checkpoint, checkpoint)
    if params.get("vae"):
        override["sd_vae"] = params["vae"]
    if params.get("clip_skip"):
        override["CLIP_stop_at_last_layers"] = params["clip_skip"]
    other_a1111_fields(params, payload, override, inputs.checkpoint_titles)
    if override:
        payload["override_settings"] = override
        payload["override_settings_restore_afterwards"] = True
    if params.get("batch_count"):
        payload["n_iter"] = params["batch_count"]
    if payload.get("enable_hr") and payload.get("denoising_strength") is None:
        # A1111's txt2img has no default here: hires fix without it is a 500 TypeError.
        payload["denoising_strength"] = HIRES_DENOISING_DEFAULT

    loras = merge_loras(inputs)
    prompt, applied, warnings = add_lora_tags(
        payload.get("prompt", ""), loras, inputs.catalog_loras
    )
    payload["prompt"] = prompt
    payload.setdefault("negative_prompt", "")
    payload["send_images"] = True
    payload["save_images"] = False
    if inputs.task_id:
        payload["force_task_id"] = inputs.task_id
    return BuiltPayload(
        payload=payload, warnings=warnings, loras=applied, total_steps=expected_steps(payload)
    )


def applied_lora_names(info: dict[str, Any]) -> set[str]:
    """Names in A1111's ``Lora hashes`` ("name: hash, name2: hash2"): what really applied,
    keyed as ``lora_hashes_key`` keys them."""
    raw = (info.get("extra_generation_params") or {}).get("Lora hashes") or ""
    raw = raw.strip().strip('"')
    return {part.rsplit(":", 1)[0].strip() for part in raw.split(",") if part.strip()}


def unparseable_lora_tags(prompt: str) -> list[str]:
    """Tags whose positional weights A1111 cannot ``float()`` (``ExtraNetworkLora.activate``
    reads ``<lora:name:te:unet>``): one of them makes A1111 apply no LoRA at all."""
    bad = []
    for match in re.finditer(r"<lora:([^>]*)>", prompt or ""):
        for arg in match.group(1).split(":")[1:3]:
            if "=" in arg:
                continue
            try:
                float(arg)
            except ValueError:
                bad.append(match.group(0))
                break
    return bad


def loras_not_applied(requested: list[str] | set[str], info: dict[str, Any]) -> list[str]:
    """The tag names the hub wrote that A1111's ``Lora hashes`` does not list."""
    applied = applied_lora_names(info)
    return sorted(name for name in requested if lora_hashes_key(name) not in applied)
