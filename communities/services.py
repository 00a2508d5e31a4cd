"""The writes of communities: each one function, used by the API and the admin alike."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import serializers

from communities.models import Ban, Channel, Community
from communities.rooms import get_community
from core.errors import ApiError, Conflict
from core.policy import PolicyError, clean_policy
from genparams.params import validate_generation_params


def checked_policy(value: Any, field: str = "policy") -> dict[str, Any]:
    try:
        return clean_policy(value)
    except PolicyError as exc:
        raise serializers.ValidationError({field: exc.errors}) from None


def checked_defaults(value: Any, field: str = "defaults") -> dict[str, Any]:
    """Generation defaults, checked like a request's fields (unknown keys refused)."""
    if not value:
        return {}
    try:
        return validate_generation_params(value)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({field: exc.detail}) from None


def may_manage(principal: Any, community_id: str | None) -> None:
    """403 unless a service key (bound to this community, or to none) asks; ``None``:
    any community (a listing, which a bound key sees only its own in)."""
    if not getattr(principal, "is_service", False):
        raise ApiError(
            "Communities are managed with a service key.", code="forbidden", status_code=403
        )
    bound = getattr(principal, "community_id", "")
    if bound and community_id is not None and bound != community_id:
        raise ApiError(
            f"This API key is bound to community {bound!r}; it cannot manage {community_id!r}.",
            code="wrong_community",
            status_code=403,
        )


def create_community(
    community_id: str, name: str, policy: Any = None, defaults: Any = None
) -> Community:
    policy, defaults = checked_policy(policy), checked_defaults(defaults)
    try:
        with transaction.atomic():
            return Community.objects.create(
                pk=community_id, name=name, policy=policy, defaults=defaults
            )
    except IntegrityError:
        raise Conflict(
            f"Community {community_id!r} exists; change it with PATCH /communities/{community_id}.",
            code="community_exists",
        ) from None


def update_community(community_id: str, changes: dict[str, Any]) -> Community:
    community = get_community(community_id)
    if "name" in changes:
        community.name = changes["name"]
    if "policy" in changes:
        community.policy = checked_policy(changes["policy"])
    if "defaults" in changes:
        community.defaults = checked_defaults(changes["defaults"])
    community.save()
    return community


def put_channel(community_id: str, channel_id: str, fields: dict[str, Any]) -> Channel:
    """Create or replace a channel's settings."""
    community = get_community(community_id)
    channel, _ = Channel.objects.update_or_create(
        community=community,
        channel_id=channel_id,
        defaults={
            "nsfw": bool(fields.get("nsfw", False)),
            "policy": checked_policy(fields.get("policy")),
            "defaults": checked_defaults(fields.get("defaults")),
        },
    )
    return channel


def ban(community_id: str, user_id: str, reason: str, by: str) -> Ban:
    community = get_community(community_id)
    banned, _ = Ban.objects.update_or_create(
        community=community, user_id=user_id, defaults={"reason": reason, "banned_by": by}
    )
    return banned


def unban(community_id: str, user_id: str) -> bool:
    return bool(Ban.objects.filter(community_id=community_id, user_id=user_id).delete()[0])


def ensure_community(community_id: str, name: str = "") -> Community:
    """The community, created (no policy) the first time a client acts in it: a Discord
    guild the bot was added to is a community from its first command."""
    community = Community.objects.filter(pk=community_id).first()
    if community is not None:
        return community
    try:
        with transaction.atomic():
            return Community.objects.create(pk=community_id, name=name or community_id)
    except IntegrityError:
        return Community.objects.get(pk=community_id)
