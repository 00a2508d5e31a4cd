"""The application commands the hub registers (``manage.py discord_commands --sync``).

Option types (Discord): 1 sub-command, 3 string, 4 integer, 5 boolean, 10 number."""

from __future__ import annotations

from typing import Any

SIZES = ["512x512", "512x768", "768x512", "768x768", "1024x1024", "832x1216", "1216x832"]


def _option(kind: int, name: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": description, **extra}


def _string(name, description, **extra):
    return _option(3, name, description, **extra)


def _sub(name: str, description: str, *options: dict) -> dict[str, Any]:
    return _option(1, name, description, options=list(options))


LORA_NAME = _string("name", "A LoRA from the catalog", required=True, autocomplete=True)
PRESET_NAME = _string("name", "One of your presets", required=True, autocomplete=True)

COMMANDS: list[dict[str, Any]] = [
    {
        "name": "imagine",
        "type": 1,
        "description": "Make a picture",
        "options": [
            _string("prompt", "What to draw", required=True, max_length=1500),
            _string("negative", "What to avoid", max_length=1000),
            _string("checkpoint", "The model", autocomplete=True),
            _string("lora", "A LoRA to add (on top of your session's)", autocomplete=True),
            _string("preset", "Start from one of your presets", autocomplete=True),
            _string("size", "Width x height", choices=[{"name": s, "value": s} for s in SIZES]),
            _option(4, "steps", "Sampling steps", min_value=1, max_value=150),
            _option(4, "seed", "Seed (-1: random)", min_value=-1),
            _option(4, "count", "How many pictures", min_value=1, max_value=4),
        ],
    },
    {
        "name": "lora",
        "type": 1,
        "description": "Your LoRA stack, used by every /imagine",
        "options": [
            _sub(
                "add",
                "Add a LoRA",
                LORA_NAME,
                _option(10, "weight", "Its weight", min_value=-2, max_value=2),
            ),  # fmt: skip
            _sub("remove", "Remove a LoRA", LORA_NAME),
            _sub("list", "Show your LoRAs"),
            _sub("clear", "Remove them all"),
        ],
    },
    {
        "name": "settings",
        "type": 1,
        "description": "Your defaults for /imagine",
        "options": [
            _option(4, "steps", "Sampling steps", min_value=1, max_value=150),
            _option(10, "cfg", "CFG scale", min_value=1, max_value=30),
            _string("sampler", "Sampler name"),
            _string("size", "Width x height", choices=[{"name": s, "value": s} for s in SIZES]),
        ],
    },
    {
        "name": "preset",
        "type": 1,
        "description": "Saved setups",
        "options": [
            _sub(
                "save",
                "Save your current session as a preset",
                _string("name", "Its name", required=True, max_length=100),
            ),  # fmt: skip
            _sub("load", "Load a preset into your session", PRESET_NAME),
            _sub("list", "Your presets"),
            _sub("share", "Get a share code for a preset", PRESET_NAME),
        ],
    },
    {"name": "queue", "type": 1, "description": "Your jobs: queued, running and recent"},
    {"name": "cancel", "type": 1, "description": "Cancel your latest queued or running job"},
    {"name": "session", "type": 1, "description": "What /imagine uses: your LoRAs and defaults"},
]
