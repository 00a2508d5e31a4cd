"""Delete images beyond retention or a user's quota now (the schedule does it hourly)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from generation_app.media.retention import prune_images


class Command(BaseCommand):
    help = (
        "Delete the images of finished jobs older than HUB_IMAGE_RETENTION_DAYS, then each "
        "user's oldest images beyond HUB_USER_IMAGE_QUOTA_MB. Queued and running jobs are "
        "never touched; pruned jobs keep their record."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be deleted; delete nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        days, quota = settings.HUB_IMAGE_RETENTION_DAYS, settings.HUB_USER_IMAGE_QUOTA_MB
        if not (days > 0 or quota > 0):
            self.stdout.write(
                "Nothing to do: set HUB_IMAGE_RETENTION_DAYS and/or HUB_USER_IMAGE_QUOTA_MB."
            )
            return
        report = prune_images(dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {report.images} image(s) of {report.jobs} job(s), "
            f"{report.bytes / 1e6:.1f} MB: {report.retention_jobs} job(s) past retention "
            f"({days:g} days), {report.quota_jobs} over quota ({quota:g} MB; users over it: "
            f"{', '.join(report.users_over_quota) or 'none'})."
        )
