"""Look LoRAs up on Civitai by their sha256, in the foreground (CIVITAI_ENRICH must be on)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from loras_app import civitai


class Command(BaseCommand):
    help = (
        "Look hashed LoRAs up on Civitai (by sha256 only) and store what it says beside the "
        "file's metadata. Found ones are not asked again unless --refresh."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh", action="store_true", help="Ask again for LoRAs already found."
        )
        parser.add_argument("--limit", type=int, default=None, help="Ask about N LoRAs at most.")

    def handle(self, *args, **opts):
        if not settings.CIVITAI_ENRICH:
            raise CommandError("Civitai enrichment is off: set CIVITAI_ENRICH=1 to use it.")
        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        summary = civitai.enrich(refresh=opts["refresh"], limit=opts["limit"])
        self.stdout.write(summary.message)
        for error in summary.errors[:5]:
            self.stderr.write(error)
