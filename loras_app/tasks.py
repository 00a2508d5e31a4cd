"""django-q2 task entry points; each is one call into the app (ids in, rows re-read). They
run on the housekeeping queue (``settings.HUB_HOUSEKEEPING_QUEUE``), never in a generation
worker's slot."""

from __future__ import annotations

from django.conf import settings

from loras_app import civitai
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
    done = hash_pending(max_seconds=600)
    civitai.queue_enrichment()  # its own task: a slow or absent Civitai never holds hashing up
    return done


def enrich_loras(lora_ids: list[int] | None = None, refresh: bool = False) -> str:
    """Civitai lookups (queued after hashing, by the admin, and by the retry schedule)."""
    # Bounded like hashing: at the default 1 request/s, about ten minutes of lookups.
    limit = max(50, int(600 * max(settings.CIVITAI_RATE_PER_SECOND, 0.1)))
    summary = civitai.enrich(refresh=refresh, lora_ids=lora_ids, limit=limit)
    if summary.left and not (summary.paused_until or summary.offline or summary.disabled):
        civitai.queue_enrichment(lora_ids, refresh=False)
    return summary.message
