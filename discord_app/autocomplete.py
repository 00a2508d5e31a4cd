"""Autocomplete for /imagine and /lora: at most 25 choices, names at most 100 characters,
answered from the catalog (well inside Discord's 3 seconds)."""

from __future__ import annotations

from typing import Any

from discord_app.actor import hub_user_id
from genparams.names import load_catalog
from loras_app.search import autocomplete as lora_choices
from presets_app.services import user_presets

MAX_CHOICES = 25
MAX_NAME = 100


def _focused(interaction: dict[str, Any]) -> tuple[str, str]:
    stack = list((interaction.get("data") or {}).get("options") or [])
    while stack:
        option = stack.pop()
        if option.get("focused"):
            return option["name"], str(option.get("value") or "")
        stack.extend(option.get("options") or [])
    return "", ""


def _name(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def choices(interaction: dict[str, Any]) -> dict[str, Any]:
    field, typed = _focused(interaction)
    found: list[dict[str, Any]] = []
    if field in ("lora", "name") and (interaction.get("data") or {}).get("name") != "preset":
        found = lora_choices(typed, MAX_CHOICES) if typed.strip() else []
    elif field == "checkpoint":
        catalog = load_catalog() or {}
        typed_lower = typed.lower()
        titles = [c["title"] for c in catalog.get("checkpoints") or []]
        found = [
            {"name": _name(t), "value": t[:MAX_NAME]} for t in titles if typed_lower in t.lower()
        ]
    elif field in ("preset", "name"):
        typed_lower = typed.lower()
        found = [
            {"name": _name(p.name), "value": str(p.pk)}
            for p in user_presets(hub_user_id(interaction))
            if typed_lower in p.name.lower()
        ]
    return {"type": 8, "data": {"choices": found[:MAX_CHOICES]}}
