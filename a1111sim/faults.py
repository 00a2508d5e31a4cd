"""Fault injection: errors, hangs, dropped connections and slow steps/swaps on demand.

Driven by ``POST /sim/faults`` (or CLI flags). Error/hang/drop faults apply to the listed
routes (default: txt2img and img2img), optionally only to the next ``count`` matching
requests. Injected errors use A1111's error shape.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from .validation import ApiError, http_error

DEFAULT_ROUTES = ["/sdapi/v1/txt2img", "/sdapi/v1/img2img"]
DEFAULT_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total capacity; "
    "5.12 GiB already allocated; 1.20 GiB free; 5.50 GiB reserved in total by PyTorch)"
)


@dataclass
class Decision:
    """What to do to one request."""

    hang_seconds: float = 0.0
    drop: bool = False
    error: ApiError | None = None


class Faults:
    def __init__(self, fail_rate: float, step_ms: int, swap_ms: int) -> None:
        self._lock = threading.Lock()
        self._initial = (fail_rate, step_ms, swap_ms)
        self.reset()

    def reset(self) -> None:
        fail_rate, step_ms, swap_ms = self._initial
        with self._lock:
            self.fail_rate = fail_rate
            self.fail_status = 500
            self.fail_error = "RuntimeError"
            self.fail_message = DEFAULT_MESSAGE
            self.hang_seconds = 0.0
            self.drop_connection = False
            # A1111's captioner failing (its models not loadable): 200 {"caption": "<error>"}
            self.caption_error = False
            self.step_ms = step_ms
            self.swap_ms = swap_ms
            self.routes = list(DEFAULT_ROUTES)
            self.count: int | None = None

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_rate": self.fail_rate,
                "fail_status": self.fail_status,
                "fail_error": self.fail_error,
                "fail_message": self.fail_message,
                "hang_seconds": self.hang_seconds,
                "drop_connection": self.drop_connection,
                "caption_error": self.caption_error,
                "step_ms": self.step_ms,
                "swap_ms": self.swap_ms,
                "routes": list(self.routes),
                "count": self.count,
            }

    def update(self, body: Any) -> dict[str, Any]:
        """Apply a partial update; a bad value is a 422 naming the key."""
        if not isinstance(body, dict):
            raise http_error(422, "faults body must be a JSON object")
        checks = {
            "fail_rate": lambda v: isinstance(v, (int, float)) and 0 <= v <= 1,
            "fail_status": lambda v: isinstance(v, int) and 400 <= v <= 599,
            "fail_error": lambda v: isinstance(v, str) and v,
            "fail_message": lambda v: isinstance(v, str),
            "hang_seconds": lambda v: isinstance(v, (int, float)) and v >= 0,
            "drop_connection": lambda v: isinstance(v, bool),
            "caption_error": lambda v: isinstance(v, bool),
            "step_ms": lambda v: isinstance(v, int) and v >= 0,
            "swap_ms": lambda v: isinstance(v, int) and v >= 0,
            "routes": lambda v: isinstance(v, list) and all(isinstance(r, str) for r in v),
            "count": lambda v: v is None or (isinstance(v, int) and v >= 0),
        }
        for key, value in body.items():
            if key not in checks:
                raise http_error(422, f"unknown fault key: {key}")
            if isinstance(value, bool) and key not in ("drop_connection", "caption_error"):
                raise http_error(422, f"bad value for {key}: {value!r}")
            if not checks[key](value):
                raise http_error(422, f"bad value for {key}: {value!r}")
        with self._lock:
            for key, value in body.items():
                setattr(self, key, value)
        return self.state()

    def decide(self, route: str) -> Decision:
        """Roll the dice for one request to ``route`` (consumes one ``count`` if it matches)."""
        with self._lock:
            armed = self.fail_rate > 0 or self.hang_seconds > 0 or self.drop_connection
            if not armed or route not in self.routes:
                return Decision()
            if self.count is not None:
                if self.count <= 0:
                    return Decision()
                self.count -= 1
            error = None
            if self.fail_rate > 0 and random.random() < self.fail_rate:
                error = ApiError(self.fail_status, self.fail_error, "", self.fail_message)
            return Decision(self.hang_seconds, self.drop_connection, error)
