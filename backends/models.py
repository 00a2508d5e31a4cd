"""Backends: the A1111 servers the hub sends work to.

Which job holds a backend is not recorded here: the jobs app owns that (its lease rows
point at a backend), so this layer knows nothing of jobs.
"""

from __future__ import annotations

from django.db import models


class Backend(models.Model):
    """One A1111 server the hub can send work to."""

    name = models.CharField(max_length=100, blank=True)
    url = models.URLField(unique=True, help_text="Base URL, e.g. http://127.0.0.1:7860")
    auth = models.CharField(
        max_length=200,
        blank=True,
        help_text="user:pass for A1111's --api-auth (blank: A1111_AUTH).",
    )
    enabled = models.BooleanField(default=True)
    from_config = models.BooleanField(
        default=False,
        editable=False,
        help_text="Created from A1111_URL (disabled again when it is no longer named there).",
    )
    healthy = models.BooleanField(default=True)
    is_simulator = models.BooleanField(default=False, editable=False)
    loaded_checkpoint = models.CharField(max_length=300, blank=True, editable=False)
    capabilities = models.JSONField(default=dict, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.url
