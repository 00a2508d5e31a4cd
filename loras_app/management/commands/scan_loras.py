"""Scan LoRAs into the catalog, in the foreground, with a progress bar on a terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApiError
from loras_app.models import ScanRun
from loras_app.scan.runs import scan, summary_line
from loras_app.scan.sources import resolve_source

# django-q2 logs "INFO Enqueued [queue] id" for every task it queues (here: the background
# hashing after a scan); the command's output is its summary line, not the queue's log.
DJANGO_Q_LOGGER = "django-q"


@contextmanager
def _quiet_queue_log() -> Iterator[None]:
    logger = logging.getLogger(DJANGO_Q_LOGGER)
    level = logger.level
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    help = (
        "Scan LoRA files into the catalog: --dir DIR (default LORA_DIR) or --from-a1111 "
        "[BACKEND] (a backend's /sdapi/v1/loras). Ends with a summary line."
    )

    def add_arguments(self, parser):
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--dir", help="Folder to scan recursively (default: LORA_DIR).")
        where.add_argument(
            "--from-a1111",
            nargs="?",
            const="",
            default=None,
            metavar="BACKEND",
            help="List LoRAs from A1111 (all enabled backends, or the one named/URL).",
        )
        parser.add_argument("--hashes", action="store_true", help="Also hash files now (slow).")
        parser.add_argument("--prune", action="store_true", help="Delete rows whose file is gone.")

    def handle(self, *args, **opts):
        try:
            source = resolve_source(
                directory=opts["dir"],
                backend=opts["from_a1111"] or None,
                from_a1111=opts["from_a1111"] is not None,
            )
            with _quiet_queue_log():
                run = scan(
                    source, hashes=opts["hashes"], prune=opts["prune"], progress=self._progress()
                )
        except ApiError as exc:
            raise CommandError(str(exc.detail)) from exc
        for error in run.errors[:20]:
            self.stderr.write(f"  {error['path']}: {error['reason']}")
        if run.error_count > 20:
            self.stderr.write(f"  … and {run.error_count - 20} more (see the scan in the admin)")
        if run.status != ScanRun.Status.SUCCEEDED:
            raise CommandError(f"Scan {run.pk} failed: {run.message}")
        self.stdout.write(f"Scan {run.pk} of {run.source}: {summary_line(run)}")

    def _progress(self):
        """A one-line bar when stdout is a terminal; silence otherwise (logs, tests)."""
        if not self.stdout.isatty():
            return None
        out = self.stdout

        def show(stage: str, done: int, total: int) -> None:
            width = 30
            filled = width * done // total if total else width
            out.write(
                f"\r{stage:5} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending=""
            )
            if done >= total:
                out.write("")

        return show
