"""The one Discord HTTP client: interaction replies (edit the original, follow-ups) with
the interaction token, channel messages and command registration with the bot token.

Rate limits are honoured, never dropped: a 429 is retried after its ``retry_after``, and a
bucket that says ``X-RateLimit-Remaining: 0`` is waited out before its next call.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests
from django.conf import settings

MAX_WAIT_SECONDS = 60.0


class DiscordError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"Discord answered HTTP {status}: {body}")
        self.status, self.body = status, body


class TokenExpired(DiscordError):
    """The interaction token is no longer valid (15 minutes have passed)."""


class DiscordClient:
    def __init__(self, base_url: str | None = None, bot_token: str | None = None):
        self.base_url = (base_url or settings.DISCORD_API_URL).rstrip("/")
        self._bot_token = bot_token
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "DiscordBot (a1111hub, 1.0)"
        self.reset_at: dict[str, float] = {}  # route -> when its bucket refills
        self.lock = threading.Lock()

    @property
    def bot_token(self) -> str:
        return settings.DISCORD_BOT_TOKEN if self._bot_token is None else self._bot_token

    # --- the calls the hub makes ----------------------------------------------------------
    def edit_original(self, token: str, message: dict, files=None) -> dict:
        path = f"/webhooks/{settings.DISCORD_APPLICATION_ID}/{token}/messages/@original"
        return self.send("PATCH", path, message, files)

    def followup(self, token: str, message: dict, files=None) -> dict:
        return self.send(
            "POST", f"/webhooks/{settings.DISCORD_APPLICATION_ID}/{token}", message, files
        )

    def post_message(self, channel_id: str, message: dict, files=None) -> dict:
        return self.send("POST", f"/channels/{channel_id}/messages", message, files, bot=True)

    def commands(self, guild_id: str | None = None) -> list[dict]:
        return self.send("GET", self._commands_path(guild_id), None, bot=True)

    def put_commands(self, commands: list[dict], guild_id: str | None = None) -> list[dict]:
        return self.send("PUT", self._commands_path(guild_id), commands, bot=True)

    def _commands_path(self, guild_id: str | None) -> str:
        app = settings.DISCORD_APPLICATION_ID
        return (
            f"/applications/{app}/guilds/{guild_id}/commands"
            if guild_id
            else f"/applications/{app}/commands"
        )

    # --- transport ------------------------------------------------------------------------
    def send(self, method: str, path: str, body: Any, files=None, bot: bool = False) -> Any:
        """One call, retried after each 429's ``retry_after`` (for at most a minute in all).
        ``files``: [(filename, bytes, content type)], sent as multipart ``files[n]``."""
        headers = {}
        if bot:
            if not self.bot_token:
                raise DiscordError(0, "DISCORD_BOT_TOKEN is not set")
            headers["Authorization"] = f"Bot {self.bot_token}"
        waited = 0.0
        route = path.split("?", 1)[0]
        while True:
            self._wait_for_bucket(route)
            if files:
                parts = {"payload_json": (None, json.dumps(body), "application/json")}
                for i, (name, data, content_type) in enumerate(files):
                    parts[f"files[{i}]"] = (name, data, content_type)
                response = self.session.request(
                    method, self.base_url + path, files=parts, headers=headers, timeout=30
                )
            else:
                response = self.session.request(
                    method, self.base_url + path, json=body, headers=headers, timeout=15
                )
            self._remember_bucket(route, response)
            if response.status_code != 429:
                break
            retry_after = float(_json(response).get("retry_after") or 1.0)
            if waited + retry_after > MAX_WAIT_SECONDS:
                raise DiscordError(429, _json(response))
            time.sleep(retry_after)
            waited += retry_after
        answer = _json(response)
        if response.status_code == 401 and answer.get("code") == 50027:
            raise TokenExpired(401, answer)
        if response.status_code >= 400:
            raise DiscordError(response.status_code, answer)
        return answer

    def _wait_for_bucket(self, route: str) -> None:
        with self.lock:
            until = self.reset_at.pop(route, 0.0)
        delay = until - time.monotonic()
        if 0 < delay <= MAX_WAIT_SECONDS:
            time.sleep(delay)

    def _remember_bucket(self, route: str, response: requests.Response) -> None:
        if response.headers.get("X-RateLimit-Remaining") == "0":
            try:
                reset_after = float(response.headers.get("X-RateLimit-Reset-After") or 0)
            except ValueError:
                return
            with self.lock:
                self.reset_at[route] = time.monotonic() + reset_after


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:200]}


_client: DiscordClient | None = None


def discord() -> DiscordClient:
    """The process's client (one connection pool)."""
    global _client
    if _client is None or _client.base_url != settings.DISCORD_API_URL.rstrip("/"):
        _client = DiscordClient()
    return _client
