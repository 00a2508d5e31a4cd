"""What to tell a user when a backend fails: the error, and what to check or change."""

from __future__ import annotations

from a1111.client import A1111Error


def actionable_message(exc: A1111Error) -> str:
    if exc.unreachable:
        return (
            f"{exc.message}. Is A1111 running with --api at {exc.url}? "
            "Start it, or set A1111_URL to the right address."
        )
    if exc.status == 401:
        return (
            f"A1111 refused the credentials ({exc.message}). Set A1111_AUTH (or the backend's "
            "auth in the admin) to a user:pass pair from A1111's --api-auth."
        )
    if exc.status == 404:
        return f"{exc.message}. Was A1111 started with --api?"
    return exc.message
