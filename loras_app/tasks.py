"""django-q2 task entry points; each is one call into the app (ids in, rows re-read). They
run on the housekeeping queue (``settings.HUB_HOUSEKEEPING_QUEUE``), never in a generation
worker's slot."""

from __future__ import annotations

from loras_app.hashing import hash_pending
from loras_app.scan import runs


def run_scan(scan_id: int) -> str | None:
    run = runs.run_queued_scan(scan_id)
    return run.message if run else None


def scheduled_scan() -> str | None:
    run = runs.scheduled_scan()
    return run.message if run else None


def hash_loras() -> int:
    # Bounded so one task never nears the cluster timeout; leftovers wait for the next scan.
    return hash_pending(max_seconds=600)
