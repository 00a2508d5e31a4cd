"""Sign-in links: an operator hands a person a link that signs them in to /app, once.

The link carries a signed token in its fragment (``/app#token=...``): a fragment is never
sent to a server, so the token stays out of access logs and Referer headers. It names a
user, expires after HUB_APP_LINK_MINUTES and works once; the page trades it for a new user
key (``ApiKey.generate``, the one way keys are made), which then lives in the browser tab
like a pasted one until it expires (HUB_APP_KEY_DAYS). Revoking that key in the admin signs
the person out.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.utils import timezone

from core.models import ApiKey

SALT = "webui.sign-in-link"


class LinkError(ValueError):
    """A token that is forged, expired or already used; the message says which."""


def make_link(user_id: str, minutes: float | None = None, base_url: str = "") -> str:
    """A link to /app that signs ``user_id`` in once within ``minutes``."""
    minutes = settings.HUB_APP_LINK_MINUTES if minutes is None else minutes
    token = signing.dumps(
        {"u": user_id, "n": secrets.token_urlsafe(12), "e": int(time.time() + minutes * 60)},
        salt=SALT,
        compress=True,
    )
    base = (base_url or settings.HUB_PUBLIC_URL or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/app#token={token}"


def redeem(token: str) -> tuple[str, str]:
    """The user id and a new raw user key for a valid token, which is then spent."""
    try:
        claims = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise LinkError("This sign-in link is not valid: ask for a new one.") from None
    remaining = claims["e"] - time.time()
    if remaining <= 0:
        raise LinkError("This sign-in link has expired: ask for a new one.")
    # The shared cache (Redis, or a table) so that every web process sees a spent link.
    if not caches["shared"].add(f"webui:link:{claims['n']}", 1, timeout=int(remaining) + 1):
        raise LinkError("This sign-in link was already used: ask for a new one.")
    user_id = claims["u"]
    _, raw = ApiKey.generate(
        f"web app link for {user_id}"[:100],
        user_id=user_id,
        expires_at=timezone.now() + timedelta(days=settings.HUB_APP_KEY_DAYS),
    )
    return user_id, raw
