"""Entering a community: who may act where, and the policy that applies there.

A request names a community (and a channel) or not. Without one, only the global policy
applies (the hub as it always was, plus the global banned words). A key bound to a
community acts only there; a banned user is refused there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from communities.models import AuditEntry, Ban, Channel, Community
from core.errors import ApiError, NotFound
from core.policy import Resolved, clean_policy, nsfw_action, resolve
from loras_app.models import Lora


@dataclass
class Room:
    """Where a request is made: its community (None for none), channel, and policy."""

    community: Community | None
    channel_id: str = ""
    channel_nsfw: bool = False
    policy: Resolved = field(default_factory=Resolved)
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def community_id(self) -> str:
        return self.community.pk if self.community else ""

    @property
    def nsfw(self) -> str:
        """What to do with an image the detector flags here. Outside any community, what
        HUB_POLICY says, else ``allow`` (classified and labelled, never withheld)."""
        if self.community is None:
            return self.policy.get("nsfw") or "allow"
        return nsfw_action(self.policy, self.channel_nsfw)


def global_policy() -> dict[str, Any]:
    """HUB_POLICY, with HUB_BANNED_WORDS added to its banned words."""
    policy = dict(settings.HUB_POLICY)
    words = [w.strip() for w in settings.HUB_BANNED_WORDS.split(",") if w.strip()]
    if words:
        policy["banned_words"] = [*policy.get("banned_words", []), *words]
    return clean_policy(policy)


def get_community(community_id: str) -> Community:
    community = Community.objects.filter(pk=community_id).first()
    if community is None:
        raise NotFound(
            f"No community {community_id!r}. Create it with POST /communities (a service "
            "key), or leave community_id out."
        )
    return community


def enter(
    principal: Any,
    user_id: str,
    community_id: str | None = None,
    channel_id: str | None = None,
    channel_nsfw: bool = False,
) -> Room:
    """The room a request is made in (404 for an unknown community, 403 for a key bound to
    another one or a banned user)."""
    bound = getattr(principal, "community_id", "")
    community_id = community_id or bound
    if bound and community_id != bound:
        raise ApiError(
            f"This API key is bound to community {bound!r}; it cannot act in {community_id!r}.",
            code="wrong_community",
            status_code=403,
        )
    key_policy = clean_policy(getattr(principal, "policy", None) or {})
    if not community_id:
        if channel_id:
            raise ApiError(
                "channel_id needs a community_id: a channel belongs to a community.",
                code="channel_without_community",
            )
        return Room(None, policy=resolve([("global", global_policy()), ("key", key_policy)]))
    community = get_community(community_id)
    ban = Ban.objects.filter(community=community, user_id=user_id).first()
    if ban is not None:
        reason = f" ({ban.reason})" if ban.reason else ""
        AuditEntry.objects.create(
            community=community,
            channel_id=channel_id or "",
            user_id=user_id,
            key_name=getattr(principal, "name", "")[:200],
            kind="-",
            verdict=AuditEntry.Verdict.REFUSED,
            rule="banned",
            detail=ban.reason,
        )
        raise ApiError(
            f"User {user_id!r} is banned from community {community.name!r}{reason}. Ask its "
            "moderators.",
            code="banned",
            status_code=403,
        )
    channel = (
        Channel.objects.filter(community=community, channel_id=channel_id).first()
        if channel_id
        else None
    )
    layers = [("global", global_policy()), ("community", community.policy)]
    defaults = dict(community.defaults)
    if channel is not None:
        layers.append(("channel", channel.policy))
        defaults.update(channel.defaults)
    layers.append(("key", key_policy))
    # A registered channel's flag is the truth; an unregistered one's is taken from a
    # service key (a bot reads it from Discord), never from a user key.
    is_service = bool(getattr(principal, "is_service", False))
    nsfw = channel.nsfw if channel is not None else (is_service and bool(channel_nsfw))
    return Room(community, channel_id or "", nsfw, resolve(layers), defaults)


def lora_labels(names: list[str]) -> dict[str, set[str]]:
    """What a policy may call each LoRA (as named in a prompt tag): its prompt name, file
    name, file stem, alias, and ``tag:<t>`` for each catalog tag; lower case."""
    labels: dict[str, set[str]] = {name: {name.lower()} for name in names}
    rows = Lora.objects.filter(prompt_name__in=names).prefetch_related("tags")
    for lora in rows:
        labels[lora.prompt_name] |= {
            lora.filename.lower(),
            lora.stem.lower(),
            lora.alias.lower(),
            *(f"tag:{tag.name.lower()}" for tag in lora.tags.all()),
        } - {""}
    return labels
