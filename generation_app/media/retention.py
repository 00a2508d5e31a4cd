"""Storage that lasts: delete old images (HUB_IMAGE_RETENTION_DAYS) and each user's oldest
images beyond a quota (HUB_USER_IMAGE_QUOTA_MB), on a schedule of the housekeeping queue.

Only jobs in a final state are touched, never one still queued or running. A pruned job
keeps its row (parameters, infotext gone with the images): ``images_pruned_at`` and
``images_pruned_reason`` say what happened, its message says it too, and GET
/jobs/{id}/result answers 410 ``images_pruned``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from core.schedules import housekeeping_schedule
from generation_app.media.storage import delete_stored
from generation_app.models import Job, JobGroup, JobImage

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "prune images"


@dataclass
class PruneReport:
    dry_run: bool
    retention_jobs: int = 0
    quota_jobs: int = 0
    images: int = 0
    bytes: int = 0
    users_over_quota: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> int:
        return self.retention_jobs + self.quota_jobs

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "jobs": self.jobs,
            "retention_jobs": self.retention_jobs,
            "quota_jobs": self.quota_jobs,
            "images": self.images,
            "bytes": self.bytes,
            "users_over_quota": self.users_over_quota,
        }


def _prunable():
    """Final jobs whose images are still there."""
    return Job.objects.filter(status__in=Job.FINAL, images_pruned_at__isnull=True)


def _image_bytes(image: JobImage) -> int:
    """What an image's files take; rows stored before sizes were recorded are measured
    once (through the storage) and remembered."""
    if image.bytes:
        return image.bytes
    total = 0
    for name in (image.file, image.thumbnail, image.compressed, image.withheld):
        if name:
            try:
                total += default_storage.size(name)
            except (OSError, NotImplementedError):
                pass
    if total:
        JobImage.objects.filter(pk=image.pk).update(bytes=total)
    return total


def prune_job(job_id, reason: str, now: datetime | None = None) -> tuple[int, int]:
    """Delete one final job's images (files and rows) and mark the job. Returns (images,
    bytes), the bytes with its sweep's contact sheet when it was the sweep's last cell with
    images; (0, 0) when the job is not final or was pruned already."""
    now = now or timezone.now()
    with transaction.atomic():
        note = f" Images deleted on {now:%Y-%m-%d} ({reason})."
        job = _prunable().filter(pk=job_id).select_for_update().first()
        if job is None:
            return 0, 0
        images = list(JobImage.objects.filter(job_id=job_id))
        size = sum(_image_bytes(i) for i in images)
        Job.objects.filter(pk=job_id, status__in=Job.FINAL).update(
            images_pruned_at=now,
            images_pruned_reason=reason[:200],
            message=(job.message + note).strip(),
        )
        JobImage.objects.filter(job_id=job_id).delete()
    # Files after the rows: a link to a pruned image is a 404 from then on, and a storage
    # error leaves an orphan file, never a row pointing at nothing.
    for image in images:
        try:
            delete_stored(image.file, image.thumbnail, image.compressed, image.withheld)
        except Exception:
            logger.exception("Could not delete the files of job %s image %s", job_id, image.index)
    if job.group_id:
        size += _drop_sheet_when_every_cell_is_pruned(job.group_id)
    return len(images), size


def _drop_sheet_when_every_cell_is_pruned(group_id) -> int:
    """A sweep's contact sheet is made of its cells' images: it goes with the last of them.
    Returns the bytes freed."""
    if Job.objects.filter(group_id=group_id, images_pruned_at__isnull=True).exists():
        return 0
    group = JobGroup.objects.filter(pk=group_id).exclude(sheet="").first()
    if group is None:
        return 0
    JobGroup.objects.filter(pk=group_id).update(sheet="", sheet_bytes=0, shared_payload={})
    try:
        delete_stored(group.sheet)
    except Exception:
        logger.exception("Could not delete the contact sheet of sweep %s", group_id)
    return group.sheet_bytes


def _job_sizes(jobs) -> dict:
    rows = (
        JobImage.objects.filter(job__in=jobs)
        .values("job_id")
        .annotate(total=Sum("bytes"))
        .values_list("job_id", "total")
    )
    return dict(rows)


def prune_images(dry_run: bool = False, now: datetime | None = None) -> PruneReport:
    """Apply retention, then each user's quota (oldest finished jobs first)."""
    now = now or timezone.now()
    report = PruneReport(dry_run=dry_run)
    days = settings.HUB_IMAGE_RETENTION_DAYS
    if days and days > 0:
        cutoff = now - timedelta(days=days)
        old = (
            _prunable()
            .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
            .filter(images__isnull=False)
            .distinct()
            .order_by("created_at")
        )
        reason = f"older than HUB_IMAGE_RETENTION_DAYS={days:g}"
        for job_id in list(old.values_list("pk", flat=True)):
            images, size = _measure(job_id) if dry_run else prune_job(job_id, reason, now)
            if images:
                report.retention_jobs += 1
                report.images += images
                report.bytes += size
    quota_mb = settings.HUB_USER_IMAGE_QUOTA_MB
    if quota_mb and quota_mb > 0:
        _apply_quota(int(quota_mb * 1024 * 1024), quota_mb, report, dry_run, now)
    if report.jobs:
        logger.info("Pruned images: %s", report.as_dict())
    return report


def _measure(job_id) -> tuple[int, int]:
    images = list(JobImage.objects.filter(job_id=job_id))
    return len(images), sum(_image_bytes(i) for i in images)


def _apply_quota(quota: int, quota_mb: float, report: PruneReport, dry_run, now) -> None:
    for image in JobImage.objects.filter(bytes=0, job__images_pruned_at__isnull=True):
        _image_bytes(image)  # measure rows stored before sizes were recorded
    reason = f"over the user's quota, HUB_USER_IMAGE_QUOTA_MB={quota_mb:g}"
    for user_id, total in _usage_over(quota).items():
        report.users_over_quota.append(user_id)
        jobs = _prunable().filter(user_id=user_id, images__isnull=False).distinct()
        sizes = _job_sizes(jobs)
        for job_id in jobs.order_by("created_at").values_list("pk", flat=True):
            if total <= quota:
                break
            if dry_run:
                images, size = _measure(job_id)
                size = sizes.get(job_id) or size
            else:
                images, size = prune_job(job_id, reason, now)
            if not images:
                continue
            total -= size
            report.quota_jobs += 1
            report.images += images
            report.bytes += size


def _usage_over(quota: int) -> dict[str, int]:
    """Users whose stored images and sweep contact sheets take more than ``quota`` bytes."""
    usage: dict[str, int] = defaultdict(int)
    images = (
        JobImage.objects.filter(job__status__in=Job.FINAL, job__images_pruned_at__isnull=True)
        .values("job__user_id")
        .annotate(total=Sum("bytes"))
        .values_list("job__user_id", "total")
    )
    sheets = (
        JobGroup.objects.exclude(sheet="")
        .values("user_id")
        .annotate(total=Sum("sheet_bytes"))
        .values_list("user_id", "total")
    )
    for user_id, total in [*images, *sheets]:
        usage[user_id] += total or 0
    return {user_id: total for user_id, total in usage.items() if total > quota}


def ensure_prune_schedule() -> None:
    """The prune, every HUB_PRUNE_INTERVAL_MINUTES on the housekeeping queue, while
    retention or a quota is set (idempotent; removed when both are off)."""
    enabled = (settings.HUB_IMAGE_RETENTION_DAYS or 0) > 0 or (
        settings.HUB_USER_IMAGE_QUOTA_MB or 0
    ) > 0
    minutes = max(1, settings.HUB_PRUNE_INTERVAL_MINUTES) if enabled else None
    housekeeping_schedule(SCHEDULE_NAME, "generation_app.tasks.prune_images", minutes)
