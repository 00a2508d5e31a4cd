from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webui.links import make_link


class Command(BaseCommand):
    help = (
        "Print a link that signs a user in to the web app (/app) once, within a few minutes "
        "(HUB_APP_LINK_MINUTES); opening it makes the user a new API key."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="The user id, e.g. alice or discord:80351110224678912.")
        parser.add_argument("--minutes", type=float, default=None, help="Valid this long.")
        parser.add_argument(
            "--url", default="", help="The hub as the person reaches it (default HUB_PUBLIC_URL)."
        )

    def handle(self, *args, user: str, minutes: float | None, url: str, **options):
        if not user.strip():
            raise CommandError("Name the user.")
        if minutes is not None and minutes <= 0:
            raise CommandError("--minutes must be above 0.")
        self.stdout.write(make_link(user.strip(), minutes, url))
