"""Rate limits per API key and per user. Over a limit is a 429 with Retry-After.

The generation rate per user (what protects the GPUs) is counted in the "shared" cache:
Redis when configured, else a database table, so it holds across web processes either
way. The request rate per key is counted in the default cache: shared with Redis, per web
process without it. Counting every request (status polls included) in the database would
make each one a write, and SQLite takes one writer at a time: polls would queue behind
each other. Run with REDIS_URL when a key's request rate must hold across processes."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from core.auth import Principal


class KeyRateThrottle(SimpleRateThrottle):
    """Requests per key: the key's own ``rate_limit`` (set in the admin), else
    HUB_RATE_LIMIT. Requests without a key (/health, /docs) are not counted here."""

    scope = "key"

    def get_rate(self) -> str:
        return settings.HUB_RATE_LIMIT

    def allow_request(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, Principal) or principal.key_id is None:
            return True
        self.rate = principal.rate_limit or settings.HUB_RATE_LIMIT
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.key_id}

    def throttle_failure(self) -> bool:
        return False


class UserGenerationThrottle(SimpleRateThrottle):
    """Generation requests per user id, whichever key sends them (a bot for many users)."""

    scope = "generate"
    cache = caches["shared"]

    def __init__(self, user_id: str):
        self.user_id = user_id
        super().__init__()

    def get_rate(self) -> str:
        return settings.HUB_GENERATION_RATE_LIMIT

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.user_id}


def check_generation_rate(user_id: str) -> None:
    """Count one generation request for ``user_id``; 429 with Retry-After when over."""
    throttle = UserGenerationThrottle(user_id)
    if throttle.rate and not throttle.allow_request(None, None):  # keyed by user_id alone
        wait = throttle.wait()
        raise Throttled(
            wait=wait,
            detail=f"User {user_id!r} sent more than {throttle.rate} generation requests; "
            f"try again in {wait or 1:.0f} s.",
        )
