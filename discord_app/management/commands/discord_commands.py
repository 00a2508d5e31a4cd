"""Register the hub's slash commands with Discord, printing what changed."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from discord_app.client import DiscordError, discord
from discord_app.commands import COMMANDS

COMPARED = ("description", "options", "type")


class Command(BaseCommand):
    help = "Show, or with --sync register, the hub's Discord commands (globally or in a guild)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sync", action="store_true", help="Register them (overwrite).")
        parser.add_argument("--guild", help="A guild id: register there (instant) not globally.")

    def handle(self, *args, sync: bool = False, guild: str | None = None, **options) -> None:
        if not (settings.DISCORD_APPLICATION_ID and settings.DISCORD_BOT_TOKEN):
            raise CommandError("Set DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN first.")
        try:
            current = {c["name"]: c for c in discord().commands(guild)}
        except DiscordError as exc:
            raise CommandError(f"Discord refused to list the commands: {exc}") from None
        wanted = {c["name"]: c for c in COMMANDS}
        changes = []
        for name in sorted(wanted.keys() | current.keys()):
            if name not in current:
                changes.append(f"+ /{name} (new)")
            elif name not in wanted:
                changes.append(f"- /{name} (removed)")
            elif any(current[name].get(k) != wanted[name].get(k) for k in COMPARED):
                changes.append(f"~ /{name} (changed)")
        where = f"guild {guild}" if guild else "every guild (global)"
        if not changes:
            self.stdout.write(f"The commands for {where} are up to date ({len(wanted)}).")
            return
        self.stdout.write("\n".join(changes))
        if not sync:
            self.stdout.write("Run with --sync to register these changes.")
            return
        try:
            discord().put_commands(COMMANDS, guild)
        except DiscordError as exc:
            raise CommandError(f"Discord refused the commands: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"Registered {len(COMMANDS)} commands for {where}."))
