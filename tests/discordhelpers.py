"""Interactions as Discord sends them, signed with a test key pair (real Ed25519)."""

from __future__ import annotations

import itertools
import json
import time

from nacl.signing import SigningKey
from rest_framework.test import APIClient

APPLICATION_ID = "1100000000000000001"
_ids = itertools.count(1)


def signed_post(key: SigningKey, payload, timestamp: int | None = None, body: bytes | None = None):
    """POST an interaction as Discord does: Ed25519 over timestamp + raw body."""
    raw = body if body is not None else json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + raw).signature.hex()
    return APIClient().post(
        "/discord/interactions",
        data=raw,
        content_type="application/json",
        HTTP_X_SIGNATURE_ED25519=signature,
        HTTP_X_SIGNATURE_TIMESTAMP=stamp,
    )


def interaction(kind: int, data: dict, user: str = "42", guild: str | None = "555", nsfw=False):
    """An interaction as Discord sends it (a guild member, or a user in a DM)."""
    number = next(_ids)
    body = {
        "id": str(900000 + number),
        "application_id": APPLICATION_ID,
        "type": kind,
        "token": f"token-{number}-{time.monotonic_ns()}",
        "version": 1,
        "data": data,
        "attachment_size_limit": 8 * 1024 * 1024,
    }
    if guild:
        body.update(guild_id=guild, channel_id="777", channel={"id": "777", "nsfw": nsfw},
                    member={"user": {"id": user, "username": f"user{user}"}})  # fmt: skip
    else:
        body.update(channel_id="778", user={"id": user, "username": f"user{user}"})
    return body


def command(name: str, options: list[dict] | None = None, **kwargs) -> dict:
    return interaction(2, {"name": name, "type": 1, "options": options or []}, **kwargs)


def option(name: str, value, kind: int = 3) -> dict:
    return {"name": name, "type": kind, "value": value}
