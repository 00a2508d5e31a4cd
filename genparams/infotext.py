"""A1111 infotexts ("parameters" of a PNG) read back into the hub's own request fields.

Pure: no database, no HTTP. The catalog (``/models``) and the LoRA catalog are passed in.

``parse_generation_parameters`` follows A1111's own parser (``modules/infotext_utils.py``
``parse_generation_parameters``): the last line holds the ``Key: value`` pairs when it has
at least three of them; the lines before it are the prompt, up to a line starting with
``Negative prompt:``; a value in double quotes is JSON (``quote``/``unquote``); a value
``WxH`` becomes ``Key-1``/``Key-2``. ``to_request`` then maps the keys A1111 writes
(``modules/processing.py`` ``create_infotext``, the hires and refiner params of
``StableDiffusionProcessingTxt2Img.init``, ``Lora hashes`` from
``extensions-builtin/Lora/extra_networks_lora.py``, ``ControlNet N`` from the ControlNet
extension's ``scripts/infotext.py``) onto the fields of ``POST /generate/*``, and says in
``warnings`` what this hub's backends lack or what it cannot carry.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from genparams.names import checkpoint_aliases, split_sampler_name

# A1111's pattern for the "Key: value, ..." line. Run by ``re`` it backtracks: a long line
# with no colon costs quadratic time (64 KB took 50 s of CPU), so ``param_pairs`` finds
# the same pairs in one pass; this pattern is kept as the reference its tests compare with.
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
# No "<" inside a tag: an attempt then stops at the next "<", so a text full of unclosed
# "<lora:" costs linear time, not quadratic.
RE_LORA_TAG = re.compile(r"<(lora|lyco):([^<>]*)>")

# Keys read into request fields, or known to carry nothing a request needs.
CONSUMED = {
    "Prompt", "Negative prompt", "Steps", "Sampler", "Schedule type", "CFG scale", "Seed",
    "Size-1", "Size-2", "Model hash", "Model", "VAE", "VAE hash", "Clip skip",
    "Variation seed", "Variation seed strength", "Denoising strength", "Hires upscale",
    "Hires resize-1", "Hires resize-2", "Hires steps", "Hires upscaler", "Face restoration",
    "Tiling", "Refiner", "Refiner switch at", "Lora hashes", "Version", "TI hashes",
}  # fmt: skip


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _is_key_char(char: str) -> bool:
    return _is_word(char) or char in " -/"


def _closing_quotes(line: str) -> list[int]:
    """For each position, the first unescaped ``"`` at or after it (len(line) if none).
    A quote ends a quoted value when an even number of backslashes stands before it."""
    closing = [len(line)] * (len(line) + 1)
    backslashes = [0] * (len(line) + 1)
    for i, char in enumerate(line):
        backslashes[i + 1] = backslashes[i] + 1 if char == "\\" else 0
    for i in range(len(line) - 1, -1, -1):
        ends_quote = line[i] == '"' and backslashes[i] % 2 == 0
        closing[i] = i if ends_quote else closing[i + 1]
    return closing


def param_pairs(line: str) -> list[tuple[str, str]]:
    """``RE_PARAM.findall(line)`` in linear time (A1111's ``re_param``): each start that
    cannot begin a ``Key:`` is skipped together with every start that would fail the same
    way, and each quoted value's end is looked up, not searched for."""
    n, pairs, i = len(line), [], 0
    closing: list[int] | None = None
    while i < n:
        k = i
        while k < n and line[k].isspace():
            k += 1
        if k >= n:
            break
        if not _is_word(line[k]):
            i = k + 1
            continue
        j = k + 1
        while j < n and _is_key_char(line[j]):
            j += 1
        if j == k + 1 or j >= n or line[j] != ":":
            i = max(j, k + 1)  # every start up to j ends its key at j: none is followed by ":"
            continue
        key, v = line[k:j], j + 1
        while v < n and line[v].isspace():
            v += 1
        end = None
        if v < n and line[v] == '"':
            closing = closing or _closing_quotes(line)
            close = closing[v + 1] if v + 1 <= n else n
            if close < n and close > v + 1 and (close + 1 == n or line[close + 1] == ","):
                value, end = line[v : close + 1], close + 1
        if end is None:
            comma = line.find(",", v)
            end = n if comma < 0 else comma
            value = line[v:end]
        pairs.append((key, value))
        i = end + 1 if end < n else n
    return pairs


def unquote(text: str) -> str:
    """A1111's ``infotext_utils.unquote``: a double-quoted value is a JSON string."""
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_generation_parameters(text: str) -> dict[str, Any]:
    """The infotext as A1111's parser reads it, without the defaults it fills in for its UI
    (so only what the text says is here) and without style extraction."""
    res: dict[str, Any] = {}
    prompt, negative_prompt = "", ""
    done_with_prompt = False
    *lines, lastline = (text or "").strip().split("\n")
    if len(param_pairs(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    for key, value in param_pairs(lastline):
        if value and value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        size = RE_IMAGESIZE.match(value) if isinstance(value, str) else None
        if size is not None:
            res[f"{key}-1"], res[f"{key}-2"] = size.group(1), size.group(2)
        else:
            res[key] = value
    return res


@dataclass(frozen=True)
class KnownLora:
    """One LoRA of the hub's catalog, as the mapping needs it."""

    filename: str
    prompt_name: str
    short_hash: str = ""
    usable: bool = True


@dataclass
class InfotextRequest:
    request: dict[str, Any]  # fields of POST /generate/* (txt2img, or controlnet with units)
    warnings: list[str]
    parameters: dict[str, Any]  # what A1111's parser reads from the text
    unused: dict[str, Any] = field(default_factory=dict)  # keys no request field carries
    kind: str = "txt2img"  # the POST /generate/<kind> it fits


def _number(value: Any, cast: type) -> Any:
    """A finite number, or None (``1e309``, ``nan`` and ``inf`` are not numbers here)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if cast is int else number


def lora_hashes(value: str) -> dict[str, str]:
    """``Lora hashes: "name: hash, name2: hash2"`` -> {name: hash}."""
    out = {}
    for part in (value or "").split(","):
        name, _, digest = part.strip().rpartition(":")
        if name.strip():
            out[name.strip()] = digest.strip()
    return out


def _loras(
    prompt: str, hashes: dict[str, str], known: list[KnownLora], warnings: list[str]
) -> tuple[str, dict[str, float]]:
    """Tags -> {catalog filename: weight}, taken out of the prompt; a LoRA the catalog lacks
    is left out with a warning (the hub would refuse a prompt naming it)."""
    by_name = {k.prompt_name: k for k in known}
    by_hash = {k.short_hash.lower(): k for k in known if k.short_hash}
    loras: dict[str, float] = {}

    def replace(match: re.Match) -> str:
        name, *args = match.group(2).split(":")
        key = name.replace(":", "").replace(",", "")  # how A1111 keys "Lora hashes"
        digest = hashes.get(key, "").lower()
        ref = by_name.get(name) or (by_hash.get(digest) if digest else None)
        weight = _number(args[0], float) if args and "=" not in args[0] else 1.0
        if ref is None:
            where = f" (hash {digest})" if digest else ""
            warnings.append(
                f"LoRA {name!r}{where} is not in this hub's catalog (GET /loras); it was left "
                "out of the prompt."
            )
            return ""
        if weight is None:
            warnings.append(f"LoRA tag {match.group(0)} has a weight that does not parse; 1 used.")
            weight = 1.0
        if not ref.usable:
            warnings.append(f"LoRA {ref.filename!r} is disabled or missing in the catalog.")
        loras[ref.filename] = weight
        return ""

    cleaned = RE_LORA_TAG.sub(replace, prompt)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned)
    # Only where a run of whitespace starts: every start inside a long run would rescan it.
    cleaned = re.sub(r"(?<!\s)\s+,", ",", cleaned).strip().rstrip(",").strip()
    return cleaned, loras


def _checkpoint(params: dict[str, Any], catalog: dict[str, Any], warnings: list[str]):
    checkpoints = catalog.get("checkpoints")
    digest, name = params.get("Model hash"), params.get("Model")
    if not (digest or name) or checkpoints is None:
        return name or None
    for checkpoint in checkpoints:
        if digest and (checkpoint.get("hash") or "").lower() == str(digest).lower():
            return checkpoint["title"]
    for checkpoint in checkpoints:
        if name and name in checkpoint_aliases(checkpoint):
            return checkpoint["title"]
    warnings.append(
        f"Checkpoint {name or ''!r} (hash {digest or '?'}) is on no backend of this hub; left "
        "out, so the backend's current model would be used. GET /models lists checkpoints."
    )
    return None


def _listed(value: str, listing: list[dict] | None, kind: str, warnings: list[str]) -> bool:
    if listing is None:
        return True
    names = {item.get("name") for item in listing} | {
        alias for item in listing for alias in (item.get("aliases") or [])
    }
    if value in names:
        return True
    warnings.append(f"{kind} {value!r} is not on this hub's backends (GET /models); left out.")
    return False


def controlnet_unit(text: str) -> dict[str, Any]:
    """A ``ControlNet N`` value (``Module: canny, Model: x, Weight: 1, ...``) as a unit."""
    fields = {}
    for part in text.split(", "):
        key, _, value = part.partition(": ")
        fields[key.strip().lower().replace(" ", "_")] = value.strip()
    unit: dict[str, Any] = {}
    for key in ("module", "model", "resize_mode", "control_mode"):
        if fields.get(key):
            unit[key] = fields[key]
    for key in ("weight", "threshold_a", "threshold_b", "guidance_start", "guidance_end"):
        if key in fields and _number(fields[key], float) is not None:
            unit[key] = _number(fields[key], float)
    if "processor_res" in fields and _number(fields["processor_res"], int) is not None:
        unit["processor_res"] = _number(fields["processor_res"], int)
    if "pixel_perfect" in fields:
        unit["pixel_perfect"] = fields["pixel_perfect"] == "True"
    return unit


def to_request(
    text: str, catalog: dict[str, Any] | None, known_loras: list[KnownLora]
) -> InfotextRequest:
    """The request fields an infotext describes, checked against what the hub has."""
    catalog = catalog or {}
    params = parse_generation_parameters(text)
    warnings: list[str] = []
    request: dict[str, Any] = {}

    prompt, loras = _loras(
        params.get("Prompt", ""), lora_hashes(params.get("Lora hashes", "")), known_loras, warnings
    )
    request["prompt"] = prompt
    if params.get("Negative prompt"):
        request["negative_prompt"] = params["Negative prompt"]
    if loras:
        request["loras"] = loras

    for key, name, cast in (
        ("Steps", "steps", int),
        ("CFG scale", "cfg_scale", float),
        ("Seed", "seed", int),
        ("Size-1", "width", int),
        ("Size-2", "height", int),
        ("Variation seed", "subseed", int),
        ("Variation seed strength", "subseed_strength", float),
        ("Denoising strength", "denoising_strength", float),
    ):
        if key in params and _number(params[key], cast) is not None:
            request[name] = _number(params[key], cast)
    if "subseed_strength" not in request:
        request.pop("subseed", None)

    if params.get("Sampler"):
        sampler, scheduler = params["Sampler"], params.get("Schedule type")
        if scheduler is None:  # before v1.9 the schedule was part of the name
            sampler, scheduler = split_sampler_name(sampler, catalog.get("schedulers") or [])
        if _listed(sampler, catalog.get("samplers"), "Sampler", warnings):
            request["sampler_name"] = sampler
        if scheduler and scheduler != "Automatic":
            schedulers = catalog.get("schedulers")
            labels = {s.get("label") or s["name"]: s for s in schedulers or []}
            names = {s["name"]: s.get("label") or s["name"] for s in schedulers or []}
            if schedulers is None or scheduler in labels:
                request["scheduler"] = scheduler
            elif scheduler in names:
                request["scheduler"] = names[scheduler]
            else:
                warnings.append(f"Schedule type {scheduler!r} is not on this hub's backends.")

    checkpoint = _checkpoint(params, catalog, warnings)
    if checkpoint:
        request["checkpoint"] = checkpoint
    if params.get("VAE") and _listed(params["VAE"], catalog.get("vaes"), "VAE", warnings):
        request["vae"] = params["VAE"]
    clip_skip = _number(params.get("Clip skip"), int)
    if clip_skip and clip_skip > 1:
        request["clip_skip"] = clip_skip
    if params.get("Tiling") in ("True", "Tiling", True):
        request["tiling"] = True
    if params.get("Face restoration"):
        request["restore_faces"] = True
        restorer = params["Face restoration"]
        if _listed(restorer, catalog.get("face_restorers"), "Face restorer", warnings):
            request["face_restorer"] = restorer

    hires_scale = _number(params.get("Hires upscale"), float)
    hires_x, hires_y = (_number(params.get(f"Hires resize-{i}"), int) for i in (1, 2))
    if hires_scale or hires_x or hires_y:
        request["enable_hr"] = True
        if hires_x or hires_y:
            request["hr_resize_x"], request["hr_resize_y"] = hires_x or 0, hires_y or 0
        else:
            request["hr_scale"] = hires_scale
        if _number(params.get("Hires steps"), int):
            request["hr_second_pass_steps"] = _number(params["Hires steps"], int)
        upscaler = params.get("Hires upscaler")
        if upscaler and _listed(upscaler, catalog.get("upscalers"), "Hires upscaler", warnings):
            request["hr_upscaler"] = upscaler

    if params.get("Refiner"):
        refiner = params["Refiner"]
        stem = refiner.split(" [")[0]
        titles = {
            alias: c["title"] for c in catalog.get("checkpoints") or [] for alias in
            checkpoint_aliases(c)
        }  # fmt: skip
        if refiner in titles or stem in titles or not catalog.get("checkpoints"):
            request["refiner_checkpoint"] = titles.get(refiner) or titles.get(stem) or refiner
            switch = _number(params.get("Refiner switch at"), float)
            if switch:
                request["refiner_switch_at"] = switch
        else:
            warnings.append(f"Refiner checkpoint {refiner!r} is on no backend; left out.")

    kind = "txt2img"
    units = [
        controlnet_unit(str(params[key]))
        for key in sorted(k for k in params if re.fullmatch(r"ControlNet \d+", k))
    ]
    if units:
        kind = "controlnet"
        models = ((catalog.get("controlnet") or {}).get("models")) if catalog else None
        for unit in units:
            model = unit.get("model")
            if models is not None and model and model != "None" and model not in models:
                warnings.append(f"ControlNet model {model!r} is not on this hub's backends.")
        request["controlnet_units"] = units
        warnings.append(
            "ControlNet units were read from the infotext; their input images are not in it: "
            "send the images with POST /generate/controlnet."
        )

    unused = {
        k: v
        for k, v in params.items()
        if k not in CONSUMED and not re.fullmatch(r"ControlNet \d+", k)
    }
    if unused:
        warnings.append(
            "Not carried into the request (no hub field for them): " + ", ".join(sorted(unused))
        )
    return InfotextRequest(request, warnings, params, unused, kind)
