"""Why a job failed, as one of a few stable reasons (metric labels and the dashboard).

Pure: the job's final status and its message in, a reason out. The messages are the
ones the runner, the scheduler's sweeps and the services write; a message none of them
matches is ``other``, so a new wording shows up there rather than as a new label.
"""

from __future__ import annotations

REASONS = (
    "backend_unreachable",
    "a1111_error",
    "timeout",
    "worker_died",
    "cancelled",
    "no_backend",
    "other",
)

# First match wins; each pattern is lower case and matched against the lower-cased message.
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timeout", ("(timed out)", "did not answer within")),
    ("backend_unreachable", ("backend unreachable",)),
    ("a1111_error", ("a1111 failed (http",)),
    ("worker_died", ("stopped responding", "no heartbeat")),
    ("no_backend", ("no a1111 backend", "no enabled backend")),
)


def failure_reason(status: str, message: str) -> str:
    """``cancelled`` for a cancelled job, else the reason its message names, else ``other``."""
    if status == "cancelled":
        return "cancelled"
    text = (message or "").lower()
    for reason, needles in _PATTERNS:
        if any(needle in text for needle in needles):
            return reason
    return "other"
