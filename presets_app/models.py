"""Saved workflows: a whole generation setup a user can reload or share."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models.functions import Lower


def new_share_code() -> str:
    """72 random bits, URL-safe: unguessable, yet short enough to paste in a chat.

    Never all digits, so a code is never mistaken for a preset id.
    """
    while (code := secrets.token_urlsafe(9)).isdigit():
        pass
    return code


class Preset(models.Model):
    """One user's saved workflow: generation params, LoRA stack, ControlNet units, regions."""

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private (owner only)"
        PUBLIC = "public", "Public (listed, anyone may use or copy)"
        CODE = "code", "Shared by code (anyone who has the code)"

    owner_id = models.CharField(
        max_length=200, db_index=True, help_text="The user id that owns it."
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    params = models.JSONField(default=dict, blank=True, help_text="Generation request fields.")
    loras = models.JSONField(default=dict, blank=True, help_text="LoRA filename -> weight.")
    controlnet_units = models.JSONField(default=list, blank=True)
    regional_config = models.JSONField(default=dict, blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE, db_index=True
    )
    share_code = models.CharField(max_length=32, unique=True, null=True, blank=True, editable=False)
    usage_count = models.PositiveIntegerField(default=0, db_index=True)
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "owner_id", name="unique_preset_name_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id})"

    def save(self, *args, **kwargs) -> None:
        # A code exists exactly while the preset is shared by code: leaving that mode (or
        # going private) revokes it, so old links stop working.
        if self.visibility == self.Visibility.CODE and not self.share_code:
            self.share_code = new_share_code()
        elif self.visibility != self.Visibility.CODE:
            self.share_code = None
        super().save(*args, **kwargs)
