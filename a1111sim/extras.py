"""Extras (postprocessing), interrogate and prompt styles, as A1111 v1.10 answers them.

- ``/sdapi/v1/extra-single-image`` / ``extra-batch-images``: ``modules/api/api.py``
  ``extras_single_image_api``/``extras_batch_images_api`` -> ``modules/postprocessing.py``
  ``run_extras`` (under the queue lock); the Upscale step is
  ``scripts/postprocessing_upscale.py`` (an unknown upscaler is an ``AssertionError``:
  500 ``could not find upscaler named X``; ``"None"`` skips upscaling), the size rule is
  ``modules/upscaler.py`` ``Upscaler.upscale`` (rounded down to a multiple of 8, then
  Lanczos to exactly that), face restoration is
  ``scripts/postprocessing_gfpgan.py``/``postprocessing_codeformer.py`` (visibility 0 skips).
  The output PNG keeps the input's ``parameters`` and gets a ``postprocessing`` chunk.
- ``/sdapi/v1/interrogate``: ``interrogateapi``: ``image`` null is 404 ``Image not found``, a
  bad image 500 ``Invalid encoded image``, then under the queue lock ``clip`` or
  ``deepdanbooru``; anything else 404 ``Model not found``. A captioner that fails (no
  weights) answers 200 ``{"caption": "<error>"}`` (``caption_error`` fault).
- styles: ``modules/styles.py`` ``merge_prompts`` (``{prompt}`` placeholder or appended with
  ``", "``); unknown style names are ignored.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time
from typing import Any

from PIL import Image, PngImagePlugin

from . import render
from .validation import Spec, http_error, runtime_error, validation_error

_EXTRAS_COMMON: Spec = [
    ("resize_mode", "int", 0),
    ("show_extras_results", "bool", True),
    ("gfpgan_visibility", "float", 0),
    ("codeformer_visibility", "float", 0),
    ("codeformer_weight", "float", 0),
    ("upscaling_resize", "float", 2),
    ("upscaling_resize_w", "int", 512),
    ("upscaling_resize_h", "int", 512),
    ("upscaling_crop", "bool", True),
    ("upscaler_1", "str", "None"),
    ("upscaler_2", "str", "None"),
    ("extras_upscaler_2_visibility", "float", 0),
    ("upscale_first", "bool", False),
]
EXTRAS_SINGLE: Spec = [*_EXTRAS_COMMON, ("image", "str", "")]
EXTRAS_BATCH: Spec = [*_EXTRAS_COMMON, ("imageList", "list", None)]
INTERROGATE: Spec = [("image", "str", ""), ("model", "str", "clip")]

# ExtrasSingleImageRequest field constraints (modules/api/models.py; the captured OpenAPI)
_LE1 = ("gfpgan_visibility", "codeformer_visibility", "codeformer_weight",
        "extras_upscaler_2_visibility")  # fmt: skip


def check_extras(req: dict[str, Any]) -> None:
    """pydantic v1 constraints: Literal[0, 1], ge/le, gt 0, ge 1 (422 with ctx)."""
    errors = []
    if req["resize_mode"] is not None and req["resize_mode"] not in (0, 1):
        errors.append({"loc": ["body", "resize_mode"], "msg": "unexpected value; permitted: 0, 1",
                       "type": "value_error.const",
                       "ctx": {"given": req["resize_mode"], "permitted": [0, 1]}})  # fmt: skip
    for name in _LE1:
        value = req[name]
        if value is None:
            continue
        if value < 0:
            errors.append({"loc": ["body", name], "msg": "ensure this value is greater than or equal to 0",
                           "type": "value_error.number.not_ge", "ctx": {"limit_value": 0}})  # fmt: skip
        elif value > 1:
            errors.append({"loc": ["body", name], "msg": "ensure this value is less than or equal to 1",
                           "type": "value_error.number.not_le", "ctx": {"limit_value": 1}})  # fmt: skip
    if req["upscaling_resize"] is not None and req["upscaling_resize"] <= 0:
        errors.append({"loc": ["body", "upscaling_resize"], "msg": "ensure this value is greater than 0",
                       "type": "value_error.number.not_gt", "ctx": {"limit_value": 0}})  # fmt: skip
    for name in ("upscaling_resize_w", "upscaling_resize_h"):
        if req[name] is not None and req[name] < 1:
            errors.append({"loc": ["body", name], "msg": "ensure this value is greater than or equal to 1",
                           "type": "value_error.number.not_ge", "ctx": {"limit_value": 1}})  # fmt: skip
    if errors:
        raise validation_error(errors)


def _round8_size(img: Image.Image, scale: float) -> tuple[int, int]:
    return max(8, int((img.width * scale) // 8 * 8)), max(8, int((img.height * scale) // 8 * 8))


def postprocess(
    img: Image.Image, req: dict[str, Any], upscaler_names: set[str]
) -> tuple[Image.Image, str]:
    """One image through Upscale, GFPGAN, CodeFormer; returns (image, infotext)."""
    info: dict[str, Any] = {}
    out = img.convert("RGB")
    name1 = req["upscaler_1"]
    name1 = None if name1 == "None" else name1
    if name1 is not None and name1 not in upscaler_names:
        raise runtime_error(f"could not find upscaler named {name1}", "AssertionError")
    if name1 is not None:
        name2 = req["upscaler_2"]
        name2 = None if name2 == "None" else name2
        if name2 is not None and name2 not in upscaler_names:
            raise runtime_error(f"could not find upscaler named {name2}", "AssertionError")
        mode = req["resize_mode"] or 0
        if mode == 1:
            tw, th = req["upscaling_resize_w"], req["upscaling_resize_h"]
            scale = max(tw / out.width, th / out.height)
            info["Postprocess upscale to"] = f"{tw}x{th}"
        else:
            scale = req["upscaling_resize"]
            info["Postprocess upscale by"] = scale
        size = _round8_size(out, scale)
        base = out
        out = base.resize(size, Image.LANCZOS)
        if mode == 1 and req["upscaling_crop"]:
            canvas = Image.new("RGB", (tw, th))
            canvas.paste(out, (tw // 2 - out.width // 2, th // 2 - out.height // 2))
            out = canvas
            info["Postprocess crop to"] = f"{out.width}x{out.height}"
        info["Postprocess upscaler"] = name1
        vis2 = req["extras_upscaler_2_visibility"] or 0
        if name2 is not None and vis2 > 0:
            second = base.resize(size, Image.NEAREST)
            if mode == 1 and req["upscaling_crop"]:
                canvas = Image.new("RGB", (tw, th))
                canvas.paste(second, (tw // 2 - second.width // 2, th // 2 - second.height // 2))
                second = canvas
            out = Image.blend(out, second, vis2)
            info["Postprocess upscaler 2"] = name2
    gfpgan = req["gfpgan_visibility"] or 0
    if gfpgan > 0:
        info["GFPGAN visibility"] = round(gfpgan, 3)
    codeformer = req["codeformer_visibility"] or 0
    if codeformer > 0:
        info["CodeFormer visibility"] = round(codeformer, 3)
        info["CodeFormer weight"] = round(req["codeformer_weight"] or 0, 3)
    text = ", ".join(k if k == v else f"{k}: {_quote(v)}" for k, v in info.items() if v is not None)
    return out, text


def _quote(value: Any) -> Any:
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return value
    return json.dumps(value, ensure_ascii=False)


def plaintext_to_html(text: str) -> str:
    """ui_common.plaintext_to_html."""
    return "<p>" + "<br>\n".join(html.escape(x) for x in text.split("\n")) + "</p>"


def encode_with_info(img: Image.Image, source: Image.Image, infotext: str) -> str:
    """api.encode_pil_to_base64 for PNG: every str item of image.info becomes a text chunk."""
    meta = PngImagePlugin.PngInfo()
    for key, value in (source.info or {}).items():
        if isinstance(key, str) and isinstance(value, str) and key != "postprocessing":
            meta.add_text(key, value)
    meta.add_text("postprocessing", infotext)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta, compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def run_extras(
    engine: Any, images: list[Image.Image], req: dict[str, Any], upscaler_names: set[str]
) -> tuple[list[str], str]:
    """postprocessing.run_postprocessing under the queue lock; (base64 images, html_info)."""
    outputs: list[str] = []
    infotext = ""
    with engine.queue_lock:
        engine.state.begin(job="extras")
        try:
            engine.state.job_count = len(images)
            for img in images:
                if engine.state.interrupted:
                    break
                delay = engine.faults.step_ms * 4 / 1000  # an upscaler's cost, about four steps
                if delay:
                    time.sleep(delay)
                out, infotext = postprocess(img, req, upscaler_names)
                outputs.append(encode_with_info(out, img, infotext))
                engine.state.nextjob(engine.options)
        finally:
            engine.state.end()
    return outputs, plaintext_to_html(infotext)


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]+")


def _prompt_of(img: Image.Image) -> str:
    text = str((img.info or {}).get("parameters") or "")
    first = text.split("\nNegative prompt:")[0].split("\n")[0]
    return re.sub(r"<[^>]*>", "", first)


def interrogate(engine: Any, img: Image.Image, model: str) -> str:
    """A deterministic caption: what the stand-in picture was drawn from, or its colours."""
    img = img.convert("RGB")
    with engine.queue_lock:
        delay = engine.faults.step_ms * 2 / 1000
        if delay:
            time.sleep(delay)
        if engine.faults.caption_error:
            # modules/interrogate.py: an exception while captioning is reported to the log
            # and the caption is "<error>", answered with 200.
            return "<error>"
        words = [w.lower() for w in _WORD.findall(_prompt_of(img))][:8]
        r, g, b = img.resize((1, 1)).getpixel((0, 0))
        colour = max((("red", r), ("green", g), ("blue", b)), key=lambda x: x[1])[0]
        if model == "clip":
            subject = " ".join(words) if words else "an abstract pattern"
            return f"a picture of {subject}, {colour} tones, digital art, trending on artstation"
        if model == "deepdanbooru":
            tags = list(dict.fromkeys(w.replace("-", "_") for w in words)) or ["no_humans"]
            return ", ".join([*tags, f"{colour}_theme", "abstract"])
        raise http_error(404, "Model not found")


def merge_prompts(style_prompt: str, prompt: str) -> str:
    if "{prompt}" in style_prompt:
        return style_prompt.replace("{prompt}", prompt)
    return ", ".join(x for x in (prompt.strip(), style_prompt.strip()) if x)


def apply_styles(
    prompt: str, negative: str, names: list[str], styles: list[dict[str, Any]]
) -> tuple[str, str]:
    by_name = {s["name"]: s for s in styles}
    for name in names:
        style = by_name.get(name)
        if style is None:
            continue
        prompt = merge_prompts(style.get("prompt") or "", prompt)
        negative = merge_prompts(style.get("negative_prompt") or "", negative)
    return prompt, negative


def decode(data: Any) -> Image.Image:
    return render.decode_image(data)
