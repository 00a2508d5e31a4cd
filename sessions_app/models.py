"""Per-user state that every generation of that user starts from."""

from __future__ import annotations

from django.db import models


class UserSession(models.Model):
    """One external user's session (a Discord id, a phone account): shared by all clients."""

    user_id = models.CharField(max_length=200, unique=True, help_text="Opaque id from the client.")
    controlnet_configs = models.JSONField(default=list, blank=True)
    custom_settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return self.user_id


class SessionLora(models.Model):
    """One active LoRA of a session. A row each (not a JSON dict) so that two clients
    adding different LoRAs at once both land, and one filename can never appear twice."""

    session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="loras")
    filename = models.CharField(max_length=255)
    weight = models.FloatField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "filename"], name="unique_session_lora")
        ]
        verbose_name = "active LoRA"

    def __str__(self) -> str:
        return f"{self.filename}:{self.weight}"
