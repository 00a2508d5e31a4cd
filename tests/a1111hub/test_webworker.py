"""What gunicorn answers by itself (before Django) is the hub's JSON error, not HTML."""

from __future__ import annotations

import json
import socket

from a1111hub.webworker import error_body, write_json_error


def test_a_request_line_too_long_is_a_json_414_naming_the_limit():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        write_json_error(ours, 414, "URI Too Long", "8191")
        ours.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: theirs.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    error = json.loads(body)
    assert error["error"] == "uri_too_long" and "8190 bytes" in error["detail"]


def test_every_refusal_of_the_web_server_has_a_code_and_a_detail():
    for status in (400, 403, 414, 417, 431, 500, 501):
        error = json.loads(error_body(status, 'bad "line" <x>'))
        assert set(error) == {"error", "detail"} and error["error"], status
