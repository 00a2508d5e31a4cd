"""What the admin dashboard shows: one read of the queue, backends, failures, scans and
the disk, as plain values for the template."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from generation_app.jobs.selectors import queue_overview
from generation_app.models import Job
from loras_app.hashing import pending_hashes
from loras_app.models import ScanRun
from ops.failures import failure_reason
from ops.metrics import open_event_streams

RECENT_FAILURES = 20
RECENT_SCANS = 10


def snapshot() -> dict:
    queue = queue_overview()
    failures = [
        {**row, "reason": failure_reason(row["status"], row["message"])}
        for row in Job.objects.filter(status__in=(Job.Status.FAILED, Job.Status.CANCELLED))
        .order_by("-finished_at", "-created_at")
        .values("id", "user_id", "kind", "status", "message", "backend__name", "finished_at")[
            :RECENT_FAILURES
        ]
    ]
    return {
        "queue": queue,
        "failures": failures,
        "scans": list(ScanRun.objects.order_by("-id")[:RECENT_SCANS]),
        "hashes_pending": pending_hashes().count(),
        "media_bytes": disk_used(Path(settings.MEDIA_ROOT)),
        "media_root": settings.MEDIA_ROOT,
        "event_streams": open_event_streams(),
    }


def disk_used(root: Path) -> int:
    """Bytes of the files under ``root`` (0 if it does not exist)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we walked
                continue
    return total
