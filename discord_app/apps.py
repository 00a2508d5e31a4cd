from django.apps import AppConfig


class DiscordAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "discord_app"
    verbose_name = "Discord"

    def ready(self) -> None:
        # The receiver of job_changed that edits a Discord reply as its job moves.
        from discord_app import replies  # noqa: F401
