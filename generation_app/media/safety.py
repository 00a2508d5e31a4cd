"""Output safety: every generated image is classified on the worker, after its backend is
released, by a local CPU detector (NudeNet's ONNX model, shipped inside its wheel: nothing
is downloaded at run time). What a flagged image becomes is the job's ``nsfw_action``,
decided by policy when the job was admitted:

- ``block``: the image is withheld: the job's files are a notice, the original is kept
  apart (``JobImage.withheld``) for a service key with the admin scope;
- ``blur``: the files are a blurred copy; the original is kept apart as above;
- ``spoiler``: the image is kept and marked (Discord names the file ``SPOILER_...``);
- ``allow``: kept and labelled.

``HUB_SAFETY_THRESHOLD`` is the score (0 to 1) from which an image is flagged: 0 flags
every image, 1 (almost) none. ``HUB_SAFETY_DETECTOR=off`` classifies nothing.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter

from generation_app.media.storage import job_dir, put

logger = logging.getLogger(__name__)

# NudeNet's classes that make an image explicit; the others (faces, covered parts) are
# reported as labels but do not flag it.
EXPLICIT = {
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
}
WITHHOLDING = ("block", "blur")

_detector = None
_detector_lock = threading.Lock()


def _nudenet():
    """The detector, loaded once per process (about 0.4 s)."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from nudenet import NudeDetector

            _detector = NudeDetector()
    return _detector


@dataclass
class Verdict:
    nsfw: bool
    score: float
    labels: list[dict[str, Any]]
    detector: str

    def as_dict(self, action: str) -> dict[str, Any]:
        return {
            "nsfw": self.nsfw,
            "score": round(self.score, 3),
            "labels": self.labels,
            "action": action if self.nsfw else "none",
            "detector": self.detector,
        }


def classify(raw: bytes) -> Verdict | None:
    """The detector's verdict on an image file's bytes; None when classification is off."""
    detector = settings.HUB_SAFETY_DETECTOR
    if detector == "off":
        return None
    found = _nudenet().detect(raw)
    labels = sorted(
        ({"label": d["class"], "score": round(float(d["score"]), 3)} for d in found),
        key=lambda d: -d["score"],
    )
    score = max((d["score"] for d in labels if d["label"] in EXPLICIT), default=0.0)
    return Verdict(score >= settings.HUB_SAFETY_THRESHOLD, score, labels[:20], detector)


def notice_png(width: int, height: int) -> bytes:
    """What a withheld image is replaced by: a grey card saying so, at the image's size."""
    card = Image.new("RGB", (max(64, width), max(64, height)), (60, 60, 60))
    draw = ImageDraw.Draw(card)
    draw.text((8, 8), "Withheld by this community's\ncontent policy", fill=(230, 230, 230))
    buffer = io.BytesIO()
    card.save(buffer, "PNG")
    return buffer.getvalue()


def blurred_png(raw: bytes) -> bytes:
    """A copy too blurred to show anything, the same size (its infotext is not copied)."""
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    radius = max(8, max(image.size) // 16)
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(radius)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Screened:
    b64: str  # what to store as the image (the original, a notice or a blurred copy)
    safety: dict[str, Any]  # {} when classification is off
    withheld: str = ""  # the original's storage name, when it is withheld
    withheld_bytes: int = 0


def screen(job_id: str, index: int, b64: str, action: str) -> Screened:
    """Classify one generated image and apply ``action`` if it is flagged. An image that
    would be kept whatever the verdict (``allow``) is not classified unless
    HUB_SAFETY_LABEL_ALLOWED asks for the label: the detector is most of a job's CPU."""
    if action == "allow" and not settings.HUB_SAFETY_LABEL_ALLOWED:
        return Screened(b64, {})
    raw = base64.b64decode(b64)
    try:
        verdict = classify(raw)
    except Exception:  # a detector that fails must not fail the job: say so on the image
        logger.exception("The safety detector failed on job %s image %s", job_id, index)
        verdict = Verdict(action in WITHHOLDING, 1.0, [{"label": "DETECTOR_FAILED"}], "error")
    if verdict is None:
        return Screened(b64, {})
    safety = verdict.as_dict(action)
    if not verdict.nsfw or action not in WITHHOLDING:
        return Screened(b64, safety)
    image = Image.open(io.BytesIO(raw))
    ext = (image.format or "PNG").lower().replace("jpeg", "jpg")
    withheld = put(f"{job_dir(job_id)}/{index}.withheld.{ext}", raw)
    shown = notice_png(image.width, image.height) if action == "block" else blurred_png(raw)
    return Screened(base64.b64encode(shown).decode(), safety, withheld, len(raw))
