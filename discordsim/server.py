"""A stand-in Discord API (v10): the routes an HTTP-interactions bot calls, checked the way
Discord checks them, and every call recorded.

Facts from Discord's documentation (discord/discord-api-docs): message content at most 2,000
characters; at most 10 attachments; at most 5 action rows of at most 5 buttons; a custom_id
at most 100 characters; multipart bodies carry the JSON in ``payload_json`` and the files
as ``files[n]``; an interaction token lasts 15 minutes (then 401, code 50027); a 429 has
``retry_after`` (seconds) in its body and the ``X-RateLimit-*`` headers.

    python -m discordsim.server [--port N]      # prints "discordsim listening on URL"
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_CONTENT = 2000
MAX_ATTACHMENTS = 10
MAX_ROWS = 5
MAX_BUTTONS = 5
MAX_CUSTOM_ID = 100
TOKEN_SECONDS = 15 * 60

ORIGINAL = re.compile(r"^/api/v10/webhooks/(\d+)/([^/]+)/messages/@original$")
FOLLOWUP = re.compile(r"^/api/v10/webhooks/(\d+)/([^/]+)$")
CHANNEL_MESSAGES = re.compile(r"^/api/v10/channels/(\d+)/messages$")
COMMANDS = re.compile(r"^/api/v10/applications/(\d+)(?:/guilds/(\d+))?/commands$")


@dataclass
class Call:
    method: str
    path: str
    json: dict[str, Any]
    files: dict[str, tuple[str, int]]  # field -> (filename, bytes)
    status: int
    at: float = field(default_factory=time.time)


class StandIn:
    """The server, its record of calls, and the knobs tests turn."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, bot_token: str = "bot-token"):
        self.bot_token = bot_token
        self.calls: list[Call] = []
        self.commands: dict[str, list[dict]] = {}
        self.lock = threading.Lock()
        self.rate_limits: list[float] = []  # retry_after of the next 429s, in order
        self.expired_tokens: set[str] = set()
        self.tokens_issued: dict[str, float] = {}
        self.next_message_id = 1000
        handler = type("Handler", (_Handler,), {"standin": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/api/v10"
        self.thread: threading.Thread | None = None

    # --- knobs -------------------------------------------------------------------------
    def rate_limit_next(self, retry_after: float, times: int = 1) -> None:
        with self.lock:
            self.rate_limits += [retry_after] * times

    def expire(self, token: str) -> None:
        self.expired_tokens.add(token)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.rate_limits.clear()
            self.expired_tokens.clear()
            self.commands.clear()

    def calls_to(self, pattern: str, method: str | None = None) -> list[Call]:
        with self.lock:
            return [
                c for c in self.calls
                if re.search(pattern, c.path) and (method is None or c.method == method)
            ]  # fmt: skip

    # --- running -----------------------------------------------------------------------
    def start(self) -> StandIn:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def check_message(body: dict[str, Any], files: dict[str, tuple[str, int]]) -> str | None:
    """What Discord would refuse in a message body, or None."""
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        return f"content: Must be {MAX_CONTENT} or fewer in length."
    if len(files) > MAX_ATTACHMENTS or len(body.get("attachments") or []) > MAX_ATTACHMENTS:
        return f"files: at most {MAX_ATTACHMENTS} attachments."
    for name in files:
        if not re.fullmatch(r"files\[\d+\]", name):
            return f"{name}: files are sent as files[n]."
    rows = body.get("components") or []
    if len(rows) > MAX_ROWS:
        return f"components: Must be {MAX_ROWS} or fewer in length."
    for row in rows:
        if row.get("type") != 1:
            return "components: top-level components must be action rows (type 1)."
        buttons = row.get("components") or []
        if not 1 <= len(buttons) <= MAX_BUTTONS:
            return f"components: an action row holds 1 to {MAX_BUTTONS} components."
        for button in buttons:
            custom_id = button.get("custom_id")
            if button.get("type") == 2 and button.get("style") != 5 and not custom_id:
                return "components: a button needs a custom_id."
            if custom_id and len(custom_id) > MAX_CUSTOM_ID:
                return f"custom_id: Must be {MAX_CUSTOM_ID} or fewer in length."
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        return "embeds: Must be 10 or fewer in length."
    return None


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any = None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _read(self) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {kind}\r\n\r\n".encode() + raw
            )
            body, files = {}, {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if name == "payload_json":
                    body = json.loads(payload)
                elif part.get_filename():
                    files[name] = (part.get_filename(), len(payload))
                else:
                    raise ValueError(f"{name}: send the JSON as payload_json")
            return body, files
        return (json.loads(raw) if raw else {}), {}

    def _route(self, method: str) -> None:
        standin = self.standin
        path = self.path.split("?", 1)[0]
        try:
            body, files = self._read()
        except ValueError as exc:
            return self._record(method, path, {}, {}, 400, {"message": str(exc), "code": 50035})
        with standin.lock:
            retry_after = standin.rate_limits.pop(0) if standin.rate_limits else None
        if retry_after is not None:
            answer = {"message": "You are being rate limited.", "retry_after": retry_after,
                      "global": False}  # fmt: skip
            headers = {"Retry-After": str(max(1, round(retry_after))),
                       "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset-After": str(retry_after)}  # fmt: skip
            return self._record(method, path, body, files, 429, answer, headers)
        if match := (ORIGINAL.match(path) if method == "PATCH" else None):
            return self._webhook(method, path, body, files, match.group(2))
        if (match := FOLLOWUP.match(path)) and method == "POST":
            return self._webhook(method, path, body, files, match.group(2))
        if (match := CHANNEL_MESSAGES.match(path)) and method == "POST":
            if self.headers.get("Authorization") != f"Bot {standin.bot_token}":
                return self._record(method, path, body, files, 401,
                                    {"message": "401: Unauthorized", "code": 0})  # fmt: skip
            return self._message(method, path, body, files)
        if match := COMMANDS.match(path):
            if self.headers.get("Authorization") != f"Bot {standin.bot_token}":
                return self._record(method, path, body, files, 401,
                                    {"message": "401: Unauthorized", "code": 0})  # fmt: skip
            scope = match.group(2) or "global"
            if method == "PUT":
                standin.commands[scope] = [
                    {**c, "id": str(9000 + i), "application_id": match.group(1)}
                    for i, c in enumerate(body)
                ]
            return self._record(method, path, body, files, 200, standin.commands.get(scope, []))
        return self._record(
            method, path, body, files, 404, {"message": "404: Not Found", "code": 0}
        )

    def _webhook(self, method, path, body, files, token) -> None:
        standin = self.standin
        issued = standin.tokens_issued.setdefault(token, time.time())
        if token in standin.expired_tokens or time.time() - issued > TOKEN_SECONDS:
            return self._record(method, path, body, files, 401,
                                {"message": "Invalid Webhook Token", "code": 50027})  # fmt: skip
        return self._message(method, path, body, files)

    def _message(self, method, path, body, files) -> None:
        problem = check_message(body, files)
        if problem:
            return self._record(method, path, body, files, 400,
                                {"message": "Invalid Form Body", "code": 50035, "errors": problem})  # fmt: skip
        with self.standin.lock:
            self.standin.next_message_id += 1
            message_id = str(self.standin.next_message_id)
        attachments = [{"id": str(i), "filename": name, "size": size}
                       for i, (name, size) in enumerate(files.values())]  # fmt: skip
        answer = {"id": message_id, "content": body.get("content", ""), "attachments": attachments,
                  "components": body.get("components", []), "embeds": body.get("embeds", [])}  # fmt: skip
        return self._record(method, path, body, files, 200, answer,
                            {"X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "1.0"})  # fmt: skip

    def _record(self, method, path, body, files, status, answer, headers=None) -> None:
        with self.standin.lock:
            self.standin.calls.append(Call(method, path, body, files, status))
        self._answer(status, answer, headers)

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m discordsim.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bot-token", default="bot-token")
    args = parser.parse_args()
    standin = StandIn(port=args.port, bot_token=args.bot_token)
    signal.signal(
        signal.SIGTERM, lambda *a: threading.Thread(target=standin.httpd.shutdown).start()
    )
    print(f"discordsim listening on {standin.url}", flush=True)
    standin.httpd.serve_forever()


if __name__ == "__main__":
    main()
