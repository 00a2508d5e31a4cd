"""Session ``custom_settings``: the README's names for saved defaults, checked with the
generation rules."""

from __future__ import annotations

from rest_framework import serializers

from genparams.names import Catalog
from genparams.params import GENERATION_FIELDS, validate_generation_params

# The README's session shows {"preferred_sampler": ..., "default_steps": ...}; these names
# and the plain request field names are both accepted, and stored as the user sent them.
CUSTOM_SETTINGS_ALIASES: dict[str, str] = {
    "preferred_sampler": "sampler_name",
    "preferred_scheduler": "scheduler",
    "preferred_checkpoint": "checkpoint",
    "preferred_vae": "vae",
    "preferred_upscaler": "hr_upscaler",
    "default_steps": "steps",
    "default_cfg": "cfg_scale",
    "default_cfg_scale": "cfg_scale",
    "default_width": "width",
    "default_height": "height",
    "default_negative_prompt": "negative_prompt",
    "default_clip_skip": "clip_skip",
}


def custom_setting_field(key: str) -> str | None:
    """The generation field a custom_settings key sets, or None if it sets nothing."""
    field = CUSTOM_SETTINGS_ALIASES.get(key, key)
    return field if field in GENERATION_FIELDS else None


def custom_settings_to_params(custom_settings: dict) -> dict:
    """Session custom_settings as generation fields, for the payload builder."""
    return {
        custom_setting_field(key): value
        for key, value in custom_settings.items()
        if custom_setting_field(key)
    }


def check_custom_settings_keys(keys) -> None:
    """Refuse keys that set no generation field (a typo would otherwise be kept forever)."""
    unknown = [key for key in keys if custom_setting_field(key) is None]
    if unknown:
        known = ", ".join(sorted({*GENERATION_FIELDS, *CUSTOM_SETTINGS_ALIASES}))
        raise serializers.ValidationError(
            {key: [f"Unknown setting. Known: {known}."] for key in unknown}
        )


def validate_custom_settings(custom_settings: dict, *, catalog: Catalog | None = None) -> dict:
    """Check custom_settings with the generation rules; errors name the user's own keys.

    Returns the settings under the keys sent, with cleaned values.
    """
    check_custom_settings_keys(custom_settings)
    errors: dict[str, list[str]] = {}
    by_field: dict[str, str] = {}
    for key in custom_settings:
        field = custom_setting_field(key)
        if field in by_field:
            errors[key] = [f"Sets {field!r} like {by_field[field]!r}; send only one of them."]
        else:
            by_field[field] = key
    if errors:
        raise serializers.ValidationError(errors)
    params = {field: custom_settings[key] for field, key in by_field.items()}
    try:
        cleaned = validate_generation_params(params, catalog=catalog)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError(
            {by_field.get(field, field): messages for field, messages in exc.detail.items()}
        ) from None
    return {by_field[field]: value for field, value in cleaned.items()}
