"""What each kind of job needs and which A1111 call runs it.

A kind that is not txt2img/img2img registers itself here (``register_kind``) from its own
package, so the scheduler and the runner pick a backend and a call without importing the
features above them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from a1111.client import A1111Client


@dataclass(frozen=True)
class KindSpec:
    # The Backend.capabilities entry a backend needs for this kind, and how to name it.
    capability: tuple[str, str] | None = None
    # The A1111 call, as call(client, payload) -> a generation result ({images, info}).
    # None: txt2img, or img2img when the payload has init images.
    run: Callable[[A1111Client, dict[str, Any]], dict[str, Any]] | None = None


_KINDS: dict[str, KindSpec] = {}


def register_kind(kind: str, spec: KindSpec) -> None:
    _KINDS[kind] = spec


def kind_spec(kind: str) -> KindSpec:
    return _KINDS.get(kind, KindSpec())


def required_capability(kind: str) -> tuple[str, str] | None:
    return kind_spec(kind).capability


def a1111_call(kind: str, img2img: bool, client: A1111Client) -> Callable[[dict], dict]:
    """The function that sends this job's payload to A1111 and answers its result."""
    run = kind_spec(kind).run
    if run is not None:
        return lambda payload: run(client, payload)
    return client.img2img if img2img else client.txt2img
