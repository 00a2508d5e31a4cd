"""Helpers for the a1111sim suite: an OpenAPI shape checker, image codecs, an HTTP wrapper."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from a1111sim.server import SimServer

OPENAPI = json.loads((Path(__file__).parents[1] / "data" / "a1111-openapi.json").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]
_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def shape_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Check a response against an OpenAPI (pydantic v1) schema: required keys and types.

    Optional fields may be null, as A1111's response models serialise unset fields.
    """
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    errors: list[str] = []
    expected = schema.get("type")
    if expected:
        py = _TYPES[expected]
        if isinstance(value, bool) and expected in ("integer", "number"):
            return [f"{path}: bool where {expected} expected"]
        if not isinstance(value, py):
            return [f"{path}: {type(value).__name__} where {expected} expected"]
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key}")
        for key, sub in schema.get("properties", {}).items():
            if value.get(key) is not None:
                errors += shape_errors(value[key], sub, f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, sub in value.items():
                errors += shape_errors(sub, extra, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += shape_errors(item, schema["items"], f"{path}[{i}]")
    return errors


def response_schema(method: str, path: str) -> dict[str, Any]:
    content = OPENAPI["paths"][path][method.lower()]["responses"]["200"]["content"]
    return content["application/json"]["schema"]


def decode(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def encode(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_image(width: int = 256, height: int = 256) -> Image.Image:
    """A bright square on the left half: easy to find again in derived images."""
    img = Image.new("RGB", (width, height), (20, 20, 20))
    img.paste((240, 240, 240), (width // 8, height // 4, width // 2, 3 * height // 4))
    return img


test_image.__test__ = False  # a helper, not a test


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    pa, pb = a.convert("L").tobytes(), b.convert("L").tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


class Sim:
    """A running simulator and helpers to call it."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.url = server.url
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, json=body, timeout=30, **kw)

    def txt2img(self, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        r = self.post("/sdapi/v1/txt2img", body)
        assert r.status_code == 200, r.text
        data = r.json()
        return data, json.loads(data["info"])

    def history(self) -> list[dict[str, Any]]:
        return self.get("/sim/state").json()["history"]
