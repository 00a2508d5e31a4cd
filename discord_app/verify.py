"""Discord signs every interaction with the application's Ed25519 key: the signature of
``X-Signature-Timestamp + raw body`` is in ``X-Signature-Ed25519``. Checked before anything
is parsed; a stale timestamp is refused too, so a captured request cannot be replayed."""

from __future__ import annotations

import time

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

MAX_AGE_SECONDS = 300


class BadSignature(Exception):
    pass


def verify(public_key_hex: str, signature_hex: str, timestamp: str, body: bytes) -> None:
    """Raise :class:`BadSignature` unless ``body`` was signed now by the application."""
    if not public_key_hex:
        raise BadSignature("DISCORD_PUBLIC_KEY is not set")
    try:
        key = VerifyKey(bytes.fromhex(public_key_hex))
        signature = bytes.fromhex(signature_hex)
        stamp = int(timestamp)
    except (ValueError, TypeError) as exc:
        raise BadSignature(f"malformed signature headers: {exc}") from None
    if abs(time.time() - stamp) > MAX_AGE_SECONDS:
        raise BadSignature("the timestamp is too old (or in the future)")
    try:
        key.verify(timestamp.encode() + body, signature)
    except BadSignatureError:
        raise BadSignature("the signature does not match") from None
