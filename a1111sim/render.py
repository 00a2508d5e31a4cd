"""Deterministic stand-in images: same inputs give the same PNG bytes, new seeds new images.

Nothing here is diffusion; the pictures only have to be real, cheap, visibly different per
prompt/seed, and visibly shaped by img2img inputs, masks, ControlNet maps and regions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import random
import re
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageOps, PngImagePlugin

from .validation import http_error

RE_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


def rng_for(*parts: Any) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def colour_for(text: str) -> tuple[int, int, int]:
    """A saturated colour derived from a text (region prompts, LoRA names)."""
    digest = hashlib.sha256(text.encode()).digest()
    hue = digest[0] / 255
    r, g, b = _hsv(hue, 0.65, 0.9)
    return r, g, b


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (int(rgb[0] * 255), int(rgb[1] * 255), int(rgb[2] * 255))


def render_base(key: str, width: int, height: int) -> Image.Image:
    """A gradient with a few shapes; colours and positions come from ``key``."""
    rng = rng_for(key)
    c1 = tuple(rng.randrange(256) for _ in range(3))
    c2 = tuple(rng.randrange(256) for _ in range(3))
    grad = Image.linear_gradient("L").rotate(rng.choice([0, 45, 90, 135, 180]), expand=False)
    img = ImageOps.colorize(grad.resize((width, height)), c1, c2).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        w, h = (
            rng.randint(width // 10 + 1, width // 2 + 2),
            rng.randint(height // 10 + 1, height // 2 + 2),
        )
        fill = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=fill)
        else:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=fill)
    return img


def tint_regions(
    img: Image.Image, regions: list[tuple[tuple[int, int, int, int], str]]
) -> Image.Image:
    """Overlay each region box with a colour derived from its prompt (Regional Prompter)."""
    out = img.copy()
    for (x0, y0, x1, y1), prompt in regions:
        box = (x0, y0, x1, y1)
        tile = Image.new("RGB", (x1 - x0, y1 - y0), colour_for(prompt))
        out.paste(Image.blend(out.crop(box), tile, 0.6), box)
    draw = ImageDraw.Draw(out)
    for (x0, y0, x1, y1), _ in regions:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 0, 0), width=2)
    return out


def apply_control(img: Image.Image, detected: Image.Image, weight: float) -> Image.Image:
    """Blend a ControlNet detected map into the picture so its structure shows."""
    control = detected.convert("L").resize(img.size)
    mask = control.point(lambda v: int(min(255, v * min(weight, 2.0))))
    return Image.composite(ImageOps.invert(img), img, mask)


def partial(img: Image.Image, fraction: float) -> Image.Image:
    """A 'partially denoised' image for interrupted jobs: blurrier the earlier it stopped."""
    radius = max(0.0, (1.0 - fraction) * 12)
    return img.filter(ImageFilter.GaussianBlur(radius)) if radius else img


def resize_image(mode: int, img: Image.Image, width: int, height: int) -> Image.Image:
    """images.resize_image: 0/3 just resize, 1 crop and resize, 2 resize and fill."""
    img = img.convert("RGB")
    if mode == 1:
        return ImageOps.fit(img, (width, height), Image.LANCZOS)
    if mode == 2:
        ratio = min(width / img.width, height / img.height)
        inner = img.resize(
            (max(1, round(img.width * ratio)), max(1, round(img.height * ratio))), Image.LANCZOS
        )
        canvas = inner.resize((width, height), Image.LANCZOS)
        canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
        return canvas
    return img.resize((width, height), Image.LANCZOS)


def img2img_blend(
    init: Image.Image,
    generated: Image.Image,
    strength: float,
    mask: Image.Image | None,
    mask_blur: int,
    invert: bool,
) -> Image.Image:
    """Output derived from the init image; with a mask only the white area changes."""
    blended = Image.blend(init, generated, max(0.0, min(1.0, strength)))
    if mask is None:
        return blended
    m = mask.convert("L").resize(init.size)
    if invert:
        m = ImageOps.invert(m)
    if mask_blur > 0:
        m = m.filter(ImageFilter.GaussianBlur(mask_blur))
    return Image.composite(blended, init, m)


def make_grid(images: list[Image.Image]) -> Image.Image:
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w, rows * h), "white")
    for i, img in enumerate(images):
        grid.paste(img, ((i % cols) * w, (i // cols) * h))
    return grid


def encode_image(img: Image.Image, infotext: str | None, fmt: str = "png") -> str:
    """Base64 without a data: prefix; PNG carries the infotext in a ``parameters`` chunk."""
    buf = io.BytesIO()
    fmt = fmt.lower()
    if fmt in ("jpg", "jpeg", "webp"):
        exif = Image.Exif()
        if infotext:
            exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + infotext.encode("utf-16-be")
        pil_fmt = "JPEG" if fmt in ("jpg", "jpeg") else "WEBP"
        img.convert("RGB").save(buf, format=pil_fmt, quality=80, exif=exif.tobytes())
    else:
        pnginfo = None
        if infotext:
            pnginfo = PngImagePlugin.PngInfo()
            pnginfo.add_text("parameters", infotext)
        img.save(buf, format="PNG", pnginfo=pnginfo, compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_image(data: Any) -> Image.Image:
    """api.decode_base64_to_image: raw base64 or data URI, else 500 Invalid encoded image."""
    if not isinstance(data, str):
        raise http_error(500, "Invalid encoded image")
    if data.startswith(("http://", "https://")):
        raise http_error(500, "Request to local resource not allowed")
    data = RE_DATA_URI.sub("", data)
    try:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()
        return img
    except (binascii.Error, ValueError, OSError) as exc:
        raise http_error(500, "Invalid encoded image") from exc


# --- ControlNet preprocessors (for /controlnet/detect and detected maps) ---


def preprocess(
    module: str, img: Image.Image, resolution: int, thr_a: float, thr_b: float
) -> Image.Image:
    """A cheap Pillow imitation of each preprocessor family."""
    img = img.convert("RGB")
    if resolution > 0:
        scale = resolution / min(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    gray = img.convert("L")
    if module == "none":
        return img
    if module == "canny" or module.startswith(("lineart", "softedge", "scribble", "mlsd")):
        edges = gray.filter(ImageFilter.FIND_EDGES)
        low = int(thr_a) if 0 < thr_a < 256 else 100
        edges = edges.point(lambda v: 255 if v > low // 4 else 0)
        return edges.convert("RGB")
    if module.startswith("depth") or module.startswith("normal"):
        return gray.filter(ImageFilter.GaussianBlur(6)).convert("RGB")
    if module.startswith(("openpose", "dw_openpose")):
        return draw_pose(img.size, pose_for(img))
    if module.startswith("invert"):
        return ImageOps.invert(img)
    if module.startswith(("tile", "blur")):
        return img.filter(ImageFilter.GaussianBlur(3))
    if module.startswith("threshold"):
        return gray.point(lambda v: 255 if v > 127 else 0).convert("RGB")
    return ImageOps.posterize(img, 2)


_SKELETON = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
             (1, 11), (11, 12), (12, 13), (0, 14), (14, 16), (0, 15), (15, 17)]  # fmt: skip
_BODY = [(0.5, 0.15), (0.5, 0.28), (0.38, 0.3), (0.33, 0.45), (0.31, 0.58), (0.62, 0.3),
         (0.67, 0.45), (0.69, 0.58), (0.43, 0.58), (0.42, 0.76), (0.42, 0.93), (0.57, 0.58),
         (0.58, 0.76), (0.58, 0.93), (0.47, 0.13), (0.53, 0.13), (0.45, 0.15), (0.55, 0.15)]  # fmt: skip


def pose_for(img: Image.Image) -> dict[str, Any]:
    """An OpenPose-JSON person whose position depends on the image (brightest third)."""
    w, h = img.size
    gray = img.convert("L").resize((3, 1))
    shift = (max(range(3), key=lambda i: gray.getpixel((i, 0))) - 1) * 0.2
    keypoints: list[float] = []
    for x, y in _BODY:
        keypoints += [round((x + shift) * w, 1), round(y * h, 1), 1.0]
    return {
        "people": [{"pose_keypoints_2d": keypoints, "face_keypoints_2d": None,
                    "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}],
        "canvas_width": w,
        "canvas_height": h,
    }  # fmt: skip


def draw_pose(size: tuple[int, int], pose: dict[str, Any]) -> Image.Image:
    out = Image.new("RGB", size, "black")
    draw = ImageDraw.Draw(out)
    for person in pose["people"]:
        kp = person["pose_keypoints_2d"]
        pts = [(kp[i], kp[i + 1]) for i in range(0, len(kp), 3)]
        for n, (a, b) in enumerate(_SKELETON):
            colour = _hsv(n / len(_SKELETON), 1.0, 1.0)
            draw.line([pts[a], pts[b]], fill=colour, width=max(4, size[0] // 48))
        for x, y in pts:
            r = max(2, size[0] // 160)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
    return out
