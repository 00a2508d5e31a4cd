"""THE LoRA scan and its entry points: the command, the admin, the API (queued), the
schedule and the start-up scan all end in :func:`scan`. Queued scans and background
hashing go to the housekeeping queue, so they never take a generation slot."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from core.errors import ApiError, Conflict
from core.schedules import housekeeping_schedule
from loras_app import civitai
from loras_app.hashing import hash_pending, pending_hashes
from loras_app.models import ScanRun
from loras_app.scan.lock import acquire_lock, locked_run, release_lock
from loras_app.scan.merge import Merge, Progress, no_progress
from loras_app.scan.sources import (
    Source,
    list_backends,
    list_folder,
    resolve_source,
    source_from_label,
)

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "LoRA catalog scan"


def start_scan(source: Source | None = None, hashes: bool = False, prune: bool = False) -> ScanRun:
    """Queue a scan and return its row at once; 409 if one is queued or running."""
    source = source or resolve_source()
    run = locked_run(source.label, hashes, prune)
    transaction.on_commit(
        lambda: async_task(
            "loras_app.tasks.run_scan",
            run.pk,
            task_name=f"lora-scan-{run.pk}",
            cluster=settings.HUB_HOUSEKEEPING_QUEUE,
        )
    )
    return run


def scan(
    source: Source | None = None,
    *,
    hashes: bool = False,
    prune: bool = False,
    run: ScanRun | None = None,
    progress: Progress | None = None,
) -> ScanRun:
    """THE LoRA scan. Reads a folder (headers only) or backends' /sdapi/v1/loras, merges into
    the catalog, and returns the finished ScanRun. Raises Conflict if another scan runs.

    ``run`` is a ScanRun already holding the lock (queued by start_scan).
    """
    source = source or resolve_source()
    if run is None:
        run = locked_run(source.label, hashes, prune)
    elif not acquire_lock(run.pk):
        return _finish(
            run, ScanRun.Status.FAILED, "Another scan took the lock (this one waited too long)."
        )
    started = time.perf_counter()
    run.status, run.started_at = ScanRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    merge = Merge(run, progress or no_progress)
    try:
        if source.from_backends:
            seen = merge.from_a1111(list_backends(source.backends))
        else:
            seen = merge.from_disk(list_folder(Path(source.directory)))
        merge.finish(prune)
        if hashes and not source.from_backends:
            run.hashed = hash_pending(progress=progress)
            civitai.queue_enrichment()  # in the background, after the scan: never part of it
        elif (
            not source.from_backends
            and settings.LORA_HASH_IN_BACKGROUND
            and pending_hashes().exists()
        ):
            transaction.on_commit(
                lambda: async_task(
                    "loras_app.tasks.hash_loras", cluster=settings.HUB_HOUSEKEEPING_QUEUE
                )
            )
        elapsed = time.perf_counter() - started
        run.files_per_second = round(seen / elapsed, 1) if elapsed > 0 else 0.0
        return _finish(run, ScanRun.Status.SUCCEEDED, summary_line(run))
    except Exception as exc:
        logger.exception("LoRA scan %s failed", run.pk)
        return _finish(run, ScanRun.Status.FAILED, f"{exc.__class__.__name__}: {exc}")
    finally:
        release_lock(run.pk)


def _finish(run: ScanRun, status: str, message: str) -> ScanRun:
    run.status, run.message, run.finished_at = status, message, timezone.now()
    run.save()
    return run


def summary_line(run: ScanRun) -> str:
    return (
        f"added {run.added}, updated {run.updated}, unchanged {run.unchanged}, "
        f"moved {run.moved}, missing {run.missing}, errors {run.error_count}, "
        f"{run.files_per_second:.0f} files/s"
    )


def run_queued_scan(scan_id: int) -> ScanRun | None:
    """The task body: run a scan queued by start_scan, once (delivery is at-least-once)."""
    run = ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.QUEUED).first()
    if run is None:
        return None
    try:
        source = source_from_label(run.source)
    except ApiError as exc:
        release_lock(run.pk)
        return _finish(run, ScanRun.Status.FAILED, exc.detail)
    return scan(source, hashes=run.hashes, prune=run.prune, run=run)


def scheduled_scan() -> ScanRun | None:
    """The schedule's body: scan the default source unless a scan is already running."""
    try:
        return scan()
    except Conflict:
        logger.info("Scheduled LoRA scan skipped: another scan is running.")
        return None


def startup_scan() -> ScanRun | None:
    """Call once when the hub starts: make sure the schedule exists, then queue a scan."""
    ensure_schedule()
    if not settings.LORA_SCAN_ON_START:
        return None
    try:
        return start_scan()
    except (Conflict, ApiError) as exc:
        logger.info("Start-up LoRA scan not queued: %s", exc.detail)
        return None


def ensure_schedule() -> None:
    """Create, update or (interval 0) delete the django-q2 schedule; safe to call often.
    It runs on the housekeeping queue, like every scan. Civitai's retry schedule too."""
    civitai.ensure_schedule()
    housekeeping_schedule(
        SCHEDULE_NAME, "loras_app.tasks.scheduled_scan", settings.LORA_SCAN_INTERVAL_MINUTES
    )
