"""API keys: the only way in for clients (Discord bots, phone apps, scripts)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.policy import validate_policy
from core.webhook_targets import validate_webhook_target

KEY_PREFIX = "hub_"
RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def validate_rate(value: str) -> None:
    if value and not RATE.match(value):
        raise ValidationError(f'{value!r} is not a rate; write it like "600/min" or "20/s".')


def hash_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is safe here (no dictionary to guess
    # from) and keeps authentication to one indexed lookup per request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A hashed API key. A service key acts for any user id; a user key for one."""

    class Kind(models.TextChoices):
        SERVICE = "service", "Service (may act for any user)"
        USER = "user", "User (only its own user id)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SERVICE)
    user_id = models.CharField(
        max_length=200, blank=True, help_text="For user keys: the user id this key acts for."
    )
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    is_admin = models.BooleanField(
        default=False,
        help_text="Admin scope (service keys only): destructive catalog operations such as "
        "pruning LoRA rows whose file is gone.",
    )
    rate_limit = models.CharField(
        max_length=20,
        blank=True,
        help_text='Requests per period for this key, e.g. "600/min" or "20/s"; blank: '
        "HUB_RATE_LIMIT.",
        validators=[validate_rate],
    )
    priority = models.SmallIntegerField(
        default=0,
        help_text="Jobs of higher-priority keys start first (a premium tier, an admin); "
        "fair share between users applies within a priority.",
    )
    webhook_url = models.URLField(
        max_length=2000,
        blank=True,
        validators=[validate_webhook_target],
        help_text="Default webhook for this key's jobs (a request's webhook_url wins): job "
        "events are POSTed there, signed with the key's webhook secret. Public addresses "
        "only, unless HUB_WEBHOOK_ALLOW_PRIVATE=1.",
    )
    community_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Bind the key to one community (its id): it may then act only there.",
    )
    policy = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_policy],
        help_text="The key's own policy, the most specific level (see Communities).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="From then on the key is refused (401). Empty: it never expires. A web "
        "app sign-in link's key expires after HUB_APP_KEY_DAYS.",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        who = self.user_id if self.kind == self.Kind.USER else "any user"
        return f"{self.name} ({self.prefix}…, {who})"

    @classmethod
    def generate(cls, name: str, user_id: str = "", **fields) -> tuple[ApiKey, str]:
        """Create a key and return it with its raw value, which is shown once and never stored."""
        key = cls(name=name, user_id=user_id, **fields)
        raw = key.set_new_secret()
        key.save()
        return key, raw

    def set_new_secret(self) -> str:
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        self.prefix = raw[:12]
        self.key_hash = hash_key(raw)
        self.kind = self.Kind.USER if self.user_id else self.Kind.SERVICE
        return raw

    @property
    def webhook_secret(self) -> str:
        """The key's webhook signing secret (Standard Webhooks ``whsec_<base64>``).

        Derived, never stored: HMAC of the key's hash under SECRET_KEY, so it is stable
        for the key's life, changes when the key is replaced, and every key has one.
        Changing SECRET_KEY changes every secret."""
        return webhook_secret_for(self.key_hash)


WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_secret_for(key_hash: str) -> str:
    raw = hmac.new(
        settings.SECRET_KEY.encode(), f"a1111hub-webhook:{key_hash}".encode(), hashlib.sha256
    ).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(raw).decode()
