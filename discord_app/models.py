"""A Discord interaction's reply, followed while its job runs."""

from __future__ import annotations

from django.db import models

from generation_app.models import Job


class DiscordReply(models.Model):
    """The deferred reply of an interaction that made a job: edited with progress, then
    with the result. The token is good for 15 minutes; after that the result goes to the
    channel with the bot token, when one is configured."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="discord_reply")
    application_id = models.CharField(max_length=30)
    token = models.CharField(max_length=500)
    token_expires_at = models.DateTimeField()
    guild_id = models.CharField(max_length=30, blank=True)
    channel_id = models.CharField(max_length=30, blank=True)
    discord_user_id = models.CharField(max_length=30)
    attachment_limit = models.PositiveBigIntegerField(default=10 * 1024 * 1024)
    edits = models.PositiveIntegerField(default=0)
    last_edit_at = models.DateTimeField(null=True, blank=True)
    last_text = models.TextField(blank=True)
    finished = models.BooleanField(default=False)
    warned_of_expiry = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "Discord replies"

    def __str__(self) -> str:
        return f"reply to {self.discord_user_id} for job {self.job_id}"
