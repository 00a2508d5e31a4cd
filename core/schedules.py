"""Repeating housekeeping tasks (django-q2 schedules), kept in step with the settings."""

from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule


def housekeeping_schedule(name: str, func: str, minutes: float | None) -> None:
    """Run ``func`` every ``minutes`` on the housekeeping queue; ``None`` or 0 removes the
    schedule. Idempotent: start-up calls it every time."""
    if not minutes or minutes <= 0:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "cluster": settings.HUB_HOUSEKEEPING_QUEUE,
            "schedule_type": Schedule.MINUTES,
            "minutes": max(1, int(minutes)),
            "repeats": -1,
        },
    )
