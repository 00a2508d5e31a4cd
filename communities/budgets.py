"""Budgets: what a job costs, in units, and what a user and a community may spend.

One formula (docs/guide/communities.md): a megapixel-step is one unit —

    units = width x height / 1e6 x steps x images
          + hires width x hires height / 1e6 x hires steps x images   (hires fix)
    then x (1 + 0.5 x ControlNet units);  an upscale costs its output megapixels x 2.

Budgets run over fixed periods (``period_hours``, aligned to the epoch, so everyone's
refills at the same moment); a job is charged when it is admitted and refunded when it
fails or is cancelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from communities.models import Charge
from communities.rooms import Room
from communities.rules import Ask
from core.errors import ApiError


def cost(ask: Ask) -> float:
    """The units one job costs (see the module's formula)."""
    if ask.kind == "upscale":
        return round(ask.pixels / 1e6 * 2, 2)
    units = ask.width * ask.height / 1e6 * ask.steps * ask.images
    if ask.hires_pixels:
        units += ask.hires_pixels / 1e6 * (ask.hires_steps or ask.steps) * ask.images
    units *= 1 + 0.5 * ask.controlnet_units
    return round(units, 2)


@dataclass
class Quote:
    units: float
    user_left: float | None  # None: no budget at that level
    community_left: float | None
    refills_at: datetime | None
    downgrade: bool = False  # spent, and the policy runs it at the lowest priority

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost": self.units,
            "user_budget_left": self.user_left,
            "community_budget_left": self.community_left,
            "refills_at": self.refills_at.isoformat() if self.refills_at else None,
            "downgraded": self.downgrade,
        }


def period(room: Room, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The budget period ``now`` falls in: (start, end)."""
    budget = room.policy.get("budget") or {}
    hours = budget.get("period_hours") or settings.HUB_BUDGET_PERIOD_HOURS
    seconds = max(60.0, hours * 3600)
    now = now or timezone.now()
    start = math.floor(now.timestamp() / seconds) * seconds
    begins = datetime.fromtimestamp(start, tz=UTC)
    return begins, begins + timedelta(seconds=seconds)


def spent(room: Room, user_id: str | None, since: datetime) -> float:
    charges = Charge.objects.filter(community=room.community, refunded=False, created_at__gte=since)
    if user_id is not None:
        charges = charges.filter(user_id=user_id)
    return charges.aggregate(total=Sum("units"))["total"] or 0.0


def quote(room: Room, user_id: str, units: float) -> Quote:
    """What ``units`` more would leave; 429 (with when it refills) when it does not fit and
    the policy refuses, a downgraded quote when the policy says ``downgrade``."""
    budget = room.policy.get("budget") or {}
    if room.community is None or not (budget.get("per_user") or budget.get("per_community")):
        return Quote(units, None, None, None)
    start, end = period(room)
    user_left = community_left = None
    if budget.get("per_user"):
        user_left = round(budget["per_user"] - spent(room, user_id, start), 2)
    if budget.get("per_community"):
        community_left = round(budget["per_community"] - spent(room, None, start), 2)
    short = [
        (who, left)
        for who, left in (("your", user_left), ("this community's", community_left))
        if left is not None and left < units
    ]
    if not short:
        return Quote(units, user_left, community_left, end)
    if budget.get("when_spent") == "downgrade":
        return Quote(units, user_left, community_left, end, downgrade=True)
    who, left = short[0]
    wait = max(1, int((end - timezone.now()).total_seconds()))
    error = ApiError(
        f"This request costs {units:g} units and {who} budget has {max(left, 0):g} left "
        f"until {end:%Y-%m-%d %H:%M} UTC. Ask for less (smaller, fewer steps or images), "
        "or wait until then.",
        code="budget_spent",
        status_code=429,
        cost=units,
        budget_left=max(left, 0),
        refills_at=end.isoformat(),
        retry_after=wait,
    )
    error.wait = wait  # Retry-After
    raise error


def charge(room: Room, user_id: str, job_id: str, units: float) -> None:
    if room.community is not None and units:
        Charge.objects.create(community=room.community, user_id=user_id, job_id=job_id, units=units)


def refund(job_id: str) -> bool:
    """Give a failed or cancelled job's units back (once)."""
    return bool(Charge.objects.filter(job_id=job_id, refunded=False).update(refunded=True))


def usage(room: Room, user_id: str) -> dict[str, Any]:
    start, end = period(room)
    budget = room.policy.get("budget") or {}
    used = spent(room, user_id, start)
    return {
        "community_id": room.community_id,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "spent": round(used, 2),
        "budget": budget.get("per_user"),
        "left": round(budget["per_user"] - used, 2) if budget.get("per_user") else None,
        "community_spent": round(spent(room, None, start), 2),
        "community_budget": budget.get("per_community"),
    }
