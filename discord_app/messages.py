"""Interaction responses the handlers share."""

from __future__ import annotations

from typing import Any

EPHEMERAL = 64  # message flag: only the user who acted sees it
MAX_CONTENT = 2000
DEFERRED = {"type": 5}  # the message comes later, by editing the original


def ephemeral(text: str) -> dict[str, Any]:
    return {"type": 4, "data": {"content": text[:MAX_CONTENT], "flags": EPHEMERAL}}
