"""API-key authentication and the per-user access rule every endpoint applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from a1111hub.models import ApiKey, hash_key


@dataclass(frozen=True)
class Principal:
    """Who is calling: a service (any user id) or one user."""

    key_id: int | None
    name: str
    user_id: str = ""

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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`."""

    def authenticate(self, request: Request):
        raw = _raw_key(request)
        if raw is None:
            if settings.HUB_ALLOW_ANONYMOUS:
                return ANONYMOUS_SERVICE, None
            return None
        key = ApiKey.objects.filter(key_hash=hash_key(raw), is_active=True).first()
        if key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is not valid (unknown or revoked). Create one with "
                "`python manage.py create_api_key NAME` or in the admin."
            )
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        user_id = key.user_id if key.kind == ApiKey.Kind.USER else ""
        return Principal(key_id=key.pk, name=key.name, user_id=user_id), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="a1111hub"'


class HasApiKey(permissions.BasePermission):
    message = (
        "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    )

    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.user, Principal)


def check_user_access(request: Request, user_id: str) -> None:
    """Raise 403 unless the caller may act for ``user_id`` (user keys: only their own)."""
    principal = request.user
    if not isinstance(principal, Principal) or not principal.may_act_for(user_id):
        raise exceptions.PermissionDenied(
            f"This API key belongs to user {principal.user_id!r} and cannot act for "
            f"user {user_id!r}. Use that user's key or a service key."
        )


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Also as `X-API-Key`."}
