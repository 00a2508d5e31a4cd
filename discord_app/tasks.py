"""Task functions the housekeeping queue runs (queued tasks name them by this path)."""

from __future__ import annotations

from discord_app.replies import update_reply

__all__ = ["update_reply"]
