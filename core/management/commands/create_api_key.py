from django.core.management.base import BaseCommand

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

    def handle(self, *args, name: str, user: str, **options):
        key, raw = ApiKey.generate(name, user_id=user)
        scope = f"user {user!r} only" if user else "any user (service key)"
        self.stdout.write(f"Created API key {key.name!r} for {scope}. It is shown once:")
        self.stdout.write(raw)
