"""The scan lock: one row that a scan holds while it runs, so two scans never overlap."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from loras_app.models import ScanLock, ScanRun

LOCK_NAME = "lora-scan"


def acquire_lock(holder: int) -> bool:
    """Take the scan lock for ``holder`` unless a live scan has it (one atomic UPDATE)."""
    try:
        ScanLock.objects.get_or_create(name=LOCK_NAME)
    except IntegrityError:  # another process created it at the same instant
        pass
    now = timezone.now()
    free = Q(holder__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder)
    taken = ScanLock.objects.filter(free, name=LOCK_NAME).update(
        holder=holder, expires_at=now + timedelta(seconds=settings.LORA_SCAN_LOCK_SECONDS)
    )
    return taken == 1


def refresh_lock(holder: int) -> bool:
    """Push the expiry forward; False if the lock was lost (expired and taken)."""
    expires = timezone.now() + timedelta(seconds=settings.LORA_SCAN_LOCK_SECONDS)
    return ScanLock.objects.filter(name=LOCK_NAME, holder=holder).update(expires_at=expires) == 1


def release_lock(holder: int) -> None:
    ScanLock.objects.filter(name=LOCK_NAME, holder=holder).update(holder=None, expires_at=None)


def locked_run(label: str, hashes: bool, prune: bool) -> ScanRun:
    """A new ScanRun that holds the lock; 409 (and no row left behind) if a scan has it."""
    run = ScanRun.objects.create(source=label, hashes=hashes, prune=prune)
    if not acquire_lock(run.pk):
        error = _busy()
        run.delete()
        raise error
    return run


def _busy() -> Conflict:
    lock = ScanLock.objects.filter(name=LOCK_NAME).first()
    other = lock.holder if lock else None
    return Conflict(
        f"A LoRA scan is already running (scan {other}); wait for it to finish: "
        f"GET /loras/scans/{other}.",
        code="scan_running",
        scan_id=other,
    )
