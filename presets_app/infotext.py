"""An infotext read against this hub's catalogs (checkpoints, samplers… and LoRAs): the
parsing is ``genparams.infotext`` (pure); this adds the rows it is checked against. Used by
``POST /presets/{user_id}`` (``infotext``) and by ``POST /png-info``."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.errors import ApiError
from genparams.infotext import (
    RE_LORA_TAG,
    InfotextRequest,
    KnownLora,
    lora_hashes,
    parse_generation_parameters,
    to_request,
)
from genparams.names import Catalog, load_catalog
from loras_app.models import Lora


def _known_loras(text: str) -> list[KnownLora]:
    names = {m.group(2).split(":")[0] for m in RE_LORA_TAG.finditer(text or "")}
    if not names:
        return []
    hashes = set(lora_hashes(parse_generation_parameters(text).get("Lora hashes", "")).values())
    rows = Lora.objects.filter(prompt_name__in=names) | Lora.objects.filter(
        short_hash__in={h for h in hashes if h}
    )
    return [
        KnownLora(r.filename, r.prompt_name, r.short_hash or "", r.enabled and not r.missing)
        for r in rows
    ]


def check_infotext_length(text: str) -> None:
    """400 past HUB_MAX_INFOTEXT_CHARS: A1111 writes a few kilobytes at most (two prompts
    of HUB_MAX_PROMPT_CHARS and a line of parameters), so a longer one is no infotext."""
    limit = settings.HUB_MAX_INFOTEXT_CHARS
    if len(text or "") > limit:
        raise ApiError(
            f"The infotext is {len(text):,} characters long; at most {limit:,} are read "
            "(HUB_MAX_INFOTEXT_CHARS). Send the parameters text A1111 wrote, not more.",
            code="infotext_too_long",
        )


def read_infotext(text: str, catalog: Catalog | None = None) -> InfotextRequest:
    """The request an infotext describes; ``catalog`` None reads the cached /models one."""
    check_infotext_length(text)
    catalog = load_catalog() if catalog is None else catalog
    return to_request(text, catalog, _known_loras(text))


def preset_content(text: str) -> tuple[dict[str, Any], list[str]]:
    """A preset's ``params``/``loras``/``controlnet_units`` from an infotext, and warnings."""
    read = read_infotext(text)
    params = dict(read.request)
    content: dict[str, Any] = {}
    loras = params.pop("loras", None)
    units = params.pop("controlnet_units", None)
    content["params"] = params
    if loras:
        content["loras"] = loras
    if units:
        content["controlnet_units"] = units
    return content, read.warnings
