"""The audit log: every request made in a community, who, where, what, and the verdict."""

from __future__ import annotations

from typing import Any

from communities.models import AuditEntry
from communities.rooms import Room

PROMPT_CHARS = 2000


def record(
    room: Room,
    principal: Any,
    user_id: str,
    kind: str,
    prompt: str,
    verdict: str,
    *,
    rule: str = "",
    detail: str = "",
    job_id: str = "",
    cost: float = 0.0,
) -> None:
    """One entry, for requests made in a community (nothing is kept for the others)."""
    if room.community is None:
        return
    AuditEntry.objects.create(
        community=room.community,
        channel_id=room.channel_id,
        user_id=user_id,
        key_name=getattr(principal, "name", "")[:200],
        kind=kind[:20],
        prompt=(prompt or "")[:PROMPT_CHARS],
        verdict=verdict,
        rule=rule[:100],
        detail=detail[:2000],
        job_id=job_id,
        cost=cost,
    )
