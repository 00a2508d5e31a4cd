"""Communities (a Discord server, an app's tenant), their channels, bans, the audit log of
what was asked there, and the budget charges of their jobs."""

from __future__ import annotations

from django.db import models

ID_CHARS = 100


class Community(models.Model):
    id = models.CharField(
        max_length=ID_CHARS, primary_key=True, help_text="Chosen by the client: a guild id."
    )
    name = models.CharField(max_length=200)
    policy = models.JSONField(default=dict, blank=True)
    defaults = models.JSONField(
        default=dict, blank=True, help_text="Generation defaults, under the user's session."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "communities"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Channel(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="channels")
    channel_id = models.CharField(max_length=ID_CHARS)
    nsfw = models.BooleanField(default=False, help_text="Age-restricted (Discord's flag).")
    policy = models.JSONField(default=dict, blank=True)
    defaults = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["community", "channel_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "channel_id"], name="unique_channel_per_community"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.channel_id} in {self.community_id}"


class Ban(models.Model):
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="bans")
    user_id = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True)
    banned_by = models.CharField(max_length=200, blank=True, help_text="The API key's name.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["community", "user_id"], name="unique_ban_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} banned from {self.community_id}"


class AuditEntry(models.Model):
    class Verdict(models.TextChoices):
        ADMITTED = "admitted"
        DOWNGRADED = "downgraded", "admitted at the lowest priority (budget spent)"
        REFUSED = "refused"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="audit")
    channel_id = models.CharField(max_length=ID_CHARS, blank=True)
    user_id = models.CharField(max_length=200, db_index=True)
    key_name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20)
    prompt = models.TextField(blank=True)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    rule = models.CharField(max_length=100, blank=True, help_text="The rule that refused it.")
    detail = models.TextField(blank=True)
    job_id = models.CharField(max_length=36, blank=True)
    cost = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["community", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.verdict}: {self.user_id} in {self.community_id}"


class Charge(models.Model):
    """Units a job cost its user's and community's budgets; refunded if it fails or is
    cancelled."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="charges")
    user_id = models.CharField(max_length=200)
    job_id = models.CharField(max_length=36, unique=True)
    units = models.FloatField()
    refunded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["community", "user_id", "created_at"]),
            models.Index(fields=["community", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.units:g} units for {self.user_id} in {self.community_id}"
