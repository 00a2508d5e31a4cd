"""django-q2 task entry points; each is one call into services (ids in, rows re-read)."""

from __future__ import annotations

from loras_app import services


def run_scan(scan_id: int) -> str | None:
    run = services.run_queued_scan(scan_id)
    return run.message if run else None


def scheduled_scan() -> str | None:
    run = services.scheduled_scan()
    return run.message if run else None


def hash_loras() -> int:
    # Bounded so one task never nears the cluster timeout; leftovers wait for the next scan.
    return services.hash_pending(max_seconds=600)
