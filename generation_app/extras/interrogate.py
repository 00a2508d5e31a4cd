"""Captions (CLIP or DeepBooru) from a free backend: a direct answer, never a wait.

A1111 captions under its queue lock, so a caption sent to a backend that runs a job waits
for that job: a web thread held for minutes. The hub asks free backends only (429 at once
when every one is busy) and bounds captions per key and per web process.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from a1111.client import A1111Error
from a1111.messages import actionable_message
from backends.registry import client_for, mark_unhealthy
from core.errors import ApiError, BackendUnavailable, TooManyRequests
from core.limits import KeySlots, ProcessSlots
from generation_app.media.uploads import CheckedImage
from generation_app.models import BackendLease
from generation_app.scheduling.claims import usable_backends

# --- captions: a direct answer with a bounded wait --------------------------------------
# The hub's names -> A1111's (modules/api/api.py interrogateapi: "clip" or "deepdanbooru").
INTERROGATE_MODELS = {"clip": "clip", "deepbooru": "deepdanbooru", "deepdanbooru": "deepdanbooru"}


captions_per_key = KeySlots(
    lambda: settings.HUB_MAX_CAPTIONS_PER_KEY,
    "captions",
    hold_seconds=lambda: settings.HUB_INTERROGATE_TIMEOUT + 60,
)
captions_per_process = ProcessSlots(lambda: settings.HUB_MAX_CAPTIONS_PER_PROCESS, "captions")


def _free_backends() -> list:
    """Healthy enabled backends that run no job (no lease); 429 when all of them do."""
    backends = list(usable_backends().order_by("pk"))
    if not backends:
        raise BackendUnavailable("No healthy backend to caption with; see GET /health.")
    busy = set(BackendLease.objects.values_list("backend_id", flat=True))
    free = [b for b in backends if b.pk not in busy]
    if not free:
        raise TooManyRequests(
            f"Every backend ({len(backends)}) is running a job, and A1111 would make the "
            "caption wait for it. Try again when one is free (GET /queue, or in a few seconds).",
            code="backends_busy",
        )
    return free


def caption(image: CheckedImage, model: str, key_id: Any) -> dict[str, Any]:
    """:func:`interrogate`, within the per-key and per-process bounds (429 past them)."""
    release_key = captions_per_key.acquire(key_id)
    try:
        release_process = captions_per_process.acquire()
        try:
            return interrogate(image, model)
        finally:
            release_process()
    finally:
        release_key()


def interrogate(image: CheckedImage, model: str) -> dict[str, Any]:
    """A caption from the first free backend that answers; a job that starts there
    meanwhile makes it wait, at most HUB_INTERROGATE_TIMEOUT (504 past it)."""
    a1111_model = INTERROGATE_MODELS[model]
    timeout = settings.HUB_INTERROGATE_TIMEOUT
    for backend in _free_backends():
        client = client_for(backend, generation_timeout=timeout)
        try:
            caption = client.interrogate(image.b64, a1111_model)
        except A1111Error as exc:
            if exc.failure == "connect":
                mark_unhealthy(backend, exc.message)
                continue  # never reached it: the next backend may answer
            if exc.failure == "timeout":
                raise ApiError(
                    f"{backend.name} did not caption within {timeout:.0f} s "
                    "(HUB_INTERROGATE_TIMEOUT); it may be busy with a long job. Try again later.",
                    code="backend_timeout",
                    status_code=504,
                ) from None
            raise ApiError(
                f"{backend.name} could not caption the image: {actionable_message(exc)}",
                code="backend_error",
                status_code=502,
            ) from None
        finally:
            client.close()
        if caption.strip() == "<error>":  # A1111's answer when its captioner failed
            raise ApiError(
                f"{backend.name} could not caption the image: A1111's {a1111_model} captioner "
                "failed (its log says why; often its model files are missing or could not be "
                "downloaded). Try the other model, or ask the operator to check that backend.",
                code="caption_failed",
                status_code=502,
            )
        return {"caption": caption, "model": model, "backend": backend.name}
    raise BackendUnavailable("No backend could be reached to caption with; see GET /health.")
