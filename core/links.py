"""Links the hub hands out: absolute (HUB_PUBLIC_URL behind a reverse proxy), and signed
links that open one stored file without an API key until they expire.

A signed link carries ``expires`` (Unix seconds) and ``signature``, an HMAC (Django's
``Signer``, keyed by SECRET_KEY) over the exact stored name and the expiry: it opens that
file and nothing else, and changing either part breaks it.
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

SALT = "a1111hub.links"
# Expiries are rounded up to the minute, so a link polled twice in a minute is the same
# link (caches and Discord's embed cache see one URL).
ROUND_SECONDS = 60


def absolute_url(request, path: str) -> str:
    """``path`` as an absolute URL: under HUB_PUBLIC_URL when set (right behind a reverse
    proxy whatever Host it forwards), else from the request; relative without either."""
    public = settings.HUB_PUBLIC_URL
    if public:
        return public.rstrip("/") + "/" + path.lstrip("/")
    return request.build_absolute_uri(path) if request is not None else path


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def expiry(seconds: int | None = None, now: float | None = None) -> int:
    """When a link made now expires (Unix seconds)."""
    seconds = settings.HUB_IMAGE_URL_SECONDS if seconds is None else seconds
    now = time.time() if now is None else now
    return int(math.ceil((now + seconds) / ROUND_SECONDS) * ROUND_SECONDS)


def signature(name: str, expires: int) -> str:
    return _signer().signature(f"{name}\n{int(expires)}")


def signed_query(name: str, expires: int | None = None) -> str:
    """``expires=…&signature=…`` for the stored file ``name``."""
    expires = expiry() if expires is None else int(expires)
    return urlencode({"expires": expires, "signature": signature(name, expires)})


class LinkState:
    ABSENT = "absent"  # no signature in the request
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def check_signed(name: str, params) -> str:
    """How the request's ``expires``/``signature`` stand for the stored file ``name``."""
    sig, expires = params.get("signature"), params.get("expires")
    if not sig and not expires:
        return LinkState.ABSENT
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return LinkState.INVALID
    if not sig or not constant_time_compare(sig, signature(name, expires_at)):
        return LinkState.INVALID
    if expires_at < time.time():
        return LinkState.EXPIRED
    return LinkState.VALID
