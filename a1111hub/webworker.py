"""The gunicorn worker runhub starts: gunicorn's threaded worker, answering in the hub's
JSON error shape the requests gunicorn itself refuses before Django sees them.

A request line over ``--limit-request-line`` (414), headers over their limits (431), a
malformed request (400) or a crash outside Django (500) get an HTML page from gunicorn;
every other answer of the hub is ``{"error", "detail"}`` JSON (core.errors), and clients
switch on ``error``. gunicorn writes those pages with ``gunicorn.util.write_error`` from
``Worker.handle_error``, so the worker replaces that one function in its own process.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# The request line gunicorn accepts (runhub's --limit-request-line; also gunicorn's maximum).
MAX_REQUEST_LINE = 8190

CODES = {
    400: ("malformed_request", "The HTTP request could not be read ({message})."),
    403: ("forbidden", "The request was refused ({message})."),
    414: (
        "uri_too_long",
        f"The request line (method, path and query) is over {MAX_REQUEST_LINE} bytes. Send "
        "fewer or shorter query parameters; long values belong in a JSON body.",
    ),
    417: ("expectation_failed", "The Expect header is not supported ({message})."),
    431: (
        "headers_too_large",
        "The request headers are too large or too many ({message}); send fewer or shorter ones.",
    ),
    501: ("not_implemented", "{message}"),
}


def error_body(status: int, message: str) -> bytes:
    """The hub's JSON error for a request gunicorn refused with ``status``."""
    code, detail = CODES.get(status, ("server_error", "Internal error; it has been logged."))
    return json.dumps({"error": code, "detail": detail.format(message=message)}).encode()


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error, with a JSON body instead of an HTML page."""
    body = error_body(status_int, mesg)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


class JsonErrorWorker(ThreadWorker):
    """gunicorn's gthread worker whose own error answers are the hub's JSON."""

    def init_process(self) -> None:
        util.write_error = write_json_error  # this worker process only
        super().init_process()
