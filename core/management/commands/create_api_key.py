from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key. Without --user it is a service key (acts for any user id, e.g. a "
        "Discord bot); with --user it only acts for that user id. The key is printed alone "
        "on the last line of output, so scripts can capture it with `tail -n1`."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A label, e.g. 'discord-bot' or 'alice-phone'.")
        parser.add_argument("--user", default="", help="Restrict the key to this user id.")
        parser.add_argument(
            "--admin", action="store_true", help="Admin scope (service keys): may prune."
        )
        parser.add_argument(
            "--priority", type=int, default=0, help="Jobs of higher priorities start first."
        )
        parser.add_argument(
            "--rate", default="", help='Requests per minute for this key, e.g. "600/min".'
        )
        parser.add_argument(
            "--expires-in-days",
            type=float,
            default=None,
            help="Refuse the key after this many days (default: it never expires).",
        )

    def handle(self, *args, name: str, user: str, admin: bool, priority: int, rate: str, **opts):
        if admin and user:
            raise CommandError("--admin is for service keys; leave out --user.")
        days = opts["expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in-days takes a positive number of days.")
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None
        key, raw = ApiKey.generate(
            name,
            user_id=user,
            is_admin=admin,
            priority=priority,
            rate_limit=rate,
            expires_at=expires_at,
        )
        scope = f"user {user!r} only" if user else "any user (service key)"
        extra = ", admin scope" if admin else ""
        if expires_at is not None:
            extra += f", expires {expires_at:%Y-%m-%d %H:%M} UTC"
        self.stdout.write(
            f"Webhook signing secret (verifies this key's webhooks): {key.webhook_secret}"
        )
        self.stdout.write(f"Created API key {key.name!r} for {scope}{extra}. It is shown once:")
        self.stdout.write(raw)
