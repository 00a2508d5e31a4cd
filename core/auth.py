"""API-key authentication and the per-user access rule every endpoint applies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from core.models import ApiKey, hash_key


@dataclass(frozen=True)
class Principal:
    """Who is calling: a service (any user id) or one user."""

    key_id: int | None
    name: str
    user_id: str = ""
    priority: int = 0
    is_admin: bool = False
    rate_limit: str = ""
    webhook_url: str = ""  # the key's default webhook
    community_id: str = ""  # bound to one community: it may act only there
    policy: dict = field(default_factory=dict, hash=False, compare=False)
    expires_at: datetime | None = None

    is_authenticated = True

    @property
    def is_service(self) -> bool:
        return not self.user_id

    def may_act_for(self, user_id: str) -> bool:
        return self.is_service or self.user_id == user_id


ANONYMOUS_SERVICE = Principal(key_id=None, name="anonymous (HUB_ALLOW_ANONYMOUS)")


def _raw_key(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    value = request.META.get("HTTP_X_API_KEY", "").strip()
    return value or None


# Known keys, per process, for a few seconds: a polling client (a phone asking for its
# job's progress) would otherwise cost a key lookup per request. A change to a key in this
# process clears it at once; other processes see a revocation within the TTL.
_principals: dict[str, tuple[float, Principal]] = {}


def forget_cached_keys(**kwargs) -> None:
    _principals.clear()


def _principal_for(raw: str) -> Principal | None:
    digest = hash_key(raw)
    cached = _principals.get(digest)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    key = ApiKey.objects.filter(key_hash=digest, is_active=True).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    user_id = key.user_id if key.kind == ApiKey.Kind.USER else ""
    principal = Principal(
        key_id=key.pk,
        name=key.name,
        user_id=user_id,
        priority=key.priority,
        is_admin=key.is_admin and not user_id,
        rate_limit=key.rate_limit,
        webhook_url=key.webhook_url,
        community_id=key.community_id,
        policy=key.policy or {},
        expires_at=key.expires_at,
    )
    if len(_principals) > 10_000:
        _principals.clear()
    _principals[digest] = (time.monotonic() + settings.HUB_API_KEY_CACHE_SECONDS, principal)
    return principal


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""

    def authenticate(self, request: Request):
        raw = _raw_key(request)
        if raw is None:
            if settings.HUB_ALLOW_ANONYMOUS:
                return ANONYMOUS_SERVICE, None
            return None
        principal = _principal_for(raw)
        if principal is None:
            raise exceptions.AuthenticationFailed(
                "This API key is not valid (unknown or revoked). Create one with "
                "`.venv/bin/python manage.py create_api_key NAME` or in the admin."
            )
        if principal.expires_at is not None and principal.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                f"This API key expired at {principal.expires_at.isoformat()}. A web app key: "
                "ask for a new sign-in link; any other: create a new key (or clear its "
                "expiry in the admin)."
            )
        return principal, principal.key_id

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="a1111hub"'


class HasApiKey(permissions.BasePermission):
    message = "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`."

    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.user, Principal)


class IsServiceKey(permissions.BasePermission):
    """Operator views (the whole queue, every user): service keys only."""

    message = "This needs a service key; a user key sees only its own user's data."

    def has_permission(self, request: Request, view) -> bool:
        principal = request.user
        return isinstance(principal, Principal) and principal.is_service


def check_admin(request: Request, what: str) -> None:
    """Raise 403 unless the caller's key has the admin scope."""
    principal = request.user
    if not (isinstance(principal, Principal) and principal.is_admin):
        raise exceptions.PermissionDenied(
            f"{what} needs a key with the admin scope (a service key with is_admin set in "
            "the admin)."
        )


def check_user_access(request: Request, user_id: str) -> None:
    """Raise 403 unless the caller may act for ``user_id`` (user keys: only their own)."""
    require_may_act_for(request.user, user_id)


def require_may_act_for(principal: Any, user_id: str) -> None:
    """403 unless ``principal`` (a Principal) may act for ``user_id``."""
    if not isinstance(principal, Principal) or not principal.may_act_for(user_id):
        raise exceptions.PermissionDenied(
            f"This API key belongs to user {getattr(principal, 'user_id', None)!r} and cannot act for "
            f"user {user_id!r}. Use that user's key or a service key."
        )


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Also as `X-API-Key`."}
