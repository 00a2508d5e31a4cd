"""What a key may ask for where it is: the hub's hard limits, tightened by the policy
that applies (global < community < channel < key). Read-only, no database writes.

Clients (the web app's sliders, a bot's help text) show these as bounds; the create
endpoints still refuse what goes past them, naming the rule.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from communities.rooms import Room

# name -> (the hub's own limit, the policy cap that may tighten it)
CAPS = {
    "steps": ("HUB_MAX_STEPS", "max_steps"),
    "width": ("HUB_MAX_WIDTH", "max_width"),
    "height": ("HUB_MAX_HEIGHT", "max_height"),
    "images": ("HUB_MAX_IMAGES", "max_images"),
    "pixels": ("HUB_MAX_OUTPUT_PIXELS", "max_pixels"),
    "active_jobs": ("HUB_MAX_ACTIVE_JOBS_PER_USER", "max_active_jobs"),
}


def effective_limits(room: Room) -> dict[str, Any]:
    """Each cap as ``{max, set_by}``: ``set_by`` is ``hub`` (a setting) or the policy level
    (``global``, ``community``, ``channel``, ``key``) whose rule is tighter."""
    limits: dict[str, Any] = {}
    for name, (setting, rule) in CAPS.items():
        hard = getattr(settings, setting)
        cap = room.policy.get(rule)
        if cap is not None and cap < hard:
            limits[name] = {"max": cap, "set_by": room.policy.source(rule)}
        else:
            limits[name] = {"max": hard, "set_by": "hub"}
    return {
        "limits": limits,
        "min_size": settings.HUB_MIN_SIZE,
        "max_prompt_chars": settings.HUB_MAX_PROMPT_CHARS,
        "max_active_loras": settings.HUB_MAX_ACTIVE_LORAS,
        "lora_weight": {"min": settings.LORA_WEIGHT_MIN, "max": settings.LORA_WEIGHT_MAX},
        "features": {
            feature: room.policy.feature_allowed(feature)
            for feature in ("txt2img", "img2img", "controlnet", "regional", "upscale", "sweeps")
        },
        "nsfw": room.nsfw,
        "defaults": {**settings.HUB_GENERATION_DEFAULTS, **room.defaults},
        **room.policy.as_dict(),
    }
