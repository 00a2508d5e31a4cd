"""Who the hub is when Discord asks: a service key of its own (created on first use), and
the Discord user as a hub user id."""

from __future__ import annotations

from typing import Any

from core.auth import Principal
from core.models import ApiKey

KEY_NAME = "Discord interactions"


def bot_principal() -> Principal:
    key = ApiKey.objects.filter(name=KEY_NAME, kind=ApiKey.Kind.SERVICE, is_active=True).first()
    if key is None:
        key = ApiKey.generate(KEY_NAME)[0]
    return Principal(key_id=key.pk, name=key.name, priority=key.priority)


def discord_user(interaction: dict[str, Any]) -> dict[str, Any]:
    """The user who acted (a member in a guild, a user in a DM)."""
    return (interaction.get("member") or {}).get("user") or interaction.get("user") or {}


def hub_user_id(interaction: dict[str, Any]) -> str:
    return f"discord:{discord_user(interaction).get('id', '')}"


def room_fields(interaction: dict[str, Any]) -> dict[str, Any]:
    """The community fields of a request made from this interaction."""
    if not interaction.get("guild_id"):
        return {}
    channel = interaction.get("channel") or {}
    return {
        "community_id": str(interaction["guild_id"]),
        "channel_id": str(interaction.get("channel_id") or channel.get("id") or ""),
        "channel_nsfw": bool(channel.get("nsfw")),
    }
