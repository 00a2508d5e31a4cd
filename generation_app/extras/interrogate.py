"""Captions (CLIP or DeepBooru) from a backend: a direct answer with a bounded wait."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from a1111.client import A1111Error
from a1111.messages import actionable_message
from backends.registry import client_for, mark_unhealthy
from core.errors import ApiError, BackendUnavailable
from generation_app.media.uploads import CheckedImage
from generation_app.models import BackendLease
from generation_app.scheduling.claims import usable_backends

# --- captions: a direct answer with a bounded wait --------------------------------------
# The hub's names -> A1111's (modules/api/api.py interrogateapi: "clip" or "deepdanbooru").
INTERROGATE_MODELS = {"clip": "clip", "deepbooru": "deepdanbooru", "deepdanbooru": "deepdanbooru"}


def _interrogate_backends() -> list:
    """Healthy enabled backends, free ones (no job's lease) first."""
    backends = list(usable_backends().order_by("pk"))
    busy = set(BackendLease.objects.values_list("backend_id", flat=True))
    return [b for b in backends if b.pk not in busy] + [b for b in backends if b.pk in busy]


def interrogate(image: CheckedImage, model: str) -> dict[str, Any]:
    """A caption from the first backend that answers. A1111 runs interrogate under its
    queue lock, so on a backend running a job it waits for that job to end: the wait is
    bounded by HUB_INTERROGATE_TIMEOUT (504 past it)."""
    a1111_model = INTERROGATE_MODELS[model]
    timeout = settings.HUB_INTERROGATE_TIMEOUT
    backends = _interrogate_backends()
    if not backends:
        raise BackendUnavailable("No healthy backend to caption with; see GET /health.")
    for backend in backends:
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
        return {"caption": caption, "model": model, "backend": backend.name}
    raise BackendUnavailable("No backend could be reached to caption with; see GET /health.")
