"""The same A1111 requests to the REAL server and to a1111sim: status codes and response
shapes (keys, types, image counts and sizes, error envelopes) must agree, for every route
the hub's client (a1111/client.py) calls.

A difference is either fixed in a1111sim (with a test in tests/a1111sim/) or listed in
DELIBERATE below, with the reason — the same list is in docs/guide/simulator.md. An entry
that no longer matches any difference fails the test too, so the list stays true.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SMALL, mask_b64, png_b64
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
Names = dict[str, str]


@dataclass
class Case:
    """One request, sent to both servers."""

    id: str
    method: str
    path: str
    body: Any = None  # JSON, or a function of the real server's names
    query: dict[str, str] | None = None
    # JSON paths (fnmatch patterns) whose *values*, not only types, must be equal.
    same: tuple[str, ...] = ()
    raw: bool = False  # body is raw bytes (a request FastAPI cannot decode)

    def payload(self, names: Names) -> Any:
        return self.body(names) if callable(self.body) else self.body


def _infotext_png() -> str:
    """A PNG with an A1111 infotext, as A1111 writes it (a `parameters` tEXt chunk)."""
    img = Image.new("RGB", (64, 64), (10, 120, 200))
    meta = PngImagePlugin.PngInfo()
    meta.add_text(
        "parameters",
        "a lighthouse <lora:detail:0.6>\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, "
        "Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 64x64, Model hash: 8d397052e5, "
        "Model: random-sd15, Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent, "
        'Lora hashes: "detail: 0123456789ab", Version: v1.10.1',
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta)
    return base64.b64encode(buf.getvalue()).decode()


def _unit(names: Names, **over: Any) -> dict[str, Any]:
    unit = {"enabled": True, "module": "canny", "model": names["cn_model"],
            "image": png_b64(), "processor_res": 64}  # fmt: skip
    return {**unit, **over}


def _cn(names: Names, **over: Any) -> dict[str, Any]:
    return {"prompt": "edges", **SMALL, "alwayson_scripts": {"controlnet": {"args": [
        _unit(names, **over)]}}}  # fmt: skip


SD = "/sdapi/v1"
CASES: list[Case] = [
    # --- listings and state (no generation lock) ---
    Case("progress", "GET", f"{SD}/progress", query={"skip_current_image": "true"}),
    Case("progress-with-image", "GET", f"{SD}/progress", query={"skip_current_image": "false"}),
    Case("progress-bad-query", "GET", f"{SD}/progress", query={"skip_current_image": "maybe"}),
    Case("options", "GET", f"{SD}/options"),
    Case("options-set", "POST", f"{SD}/options", {"samples_format": "png"}),
    Case("options-set-unknown-key", "POST", f"{SD}/options", {"no_such_option_xyz": 1}),
    Case(
        "options-set-unknown-checkpoint",
        "POST",
        f"{SD}/options",
        {"sd_model_checkpoint": "no_such_model.safetensors"},
    ),  # fmt: skip
    Case("sd-models", "GET", f"{SD}/sd-models", same=("$[].title", "$[].model_name")),
    Case("sd-vae", "GET", f"{SD}/sd-vae"),
    Case("samplers", "GET", f"{SD}/samplers", same=("$[].name",)),
    Case("schedulers", "GET", f"{SD}/schedulers", same=("$[].name", "$[].label")),
    Case("upscalers", "GET", f"{SD}/upscalers"),
    Case("latent-upscale-modes", "GET", f"{SD}/latent-upscale-modes", same=("$[].name",)),
    Case("embeddings", "GET", f"{SD}/embeddings"),
    Case("loras", "GET", f"{SD}/loras"),
    Case("refresh-loras", "POST", f"{SD}/refresh-loras"),
    Case("refresh-checkpoints", "POST", f"{SD}/refresh-checkpoints"),
    Case("memory", "GET", f"{SD}/memory"),
    Case("scripts", "GET", f"{SD}/scripts", same=("$.txt2img[]", "$.img2img[]")),
    Case("script-info", "GET", f"{SD}/script-info"),
    Case("face-restorers", "GET", f"{SD}/face-restorers"),
    Case("prompt-styles", "GET", f"{SD}/prompt-styles"),
    Case("hypernetworks", "GET", f"{SD}/hypernetworks"),
    Case("interrupt-idle", "POST", f"{SD}/interrupt"),
    Case("skip-idle", "POST", f"{SD}/skip"),
    # API only (--nowebui): no /internal/* routes; the hub falls back to /sdapi/v1/progress.
    Case(
        "internal-progress",
        "POST",
        "/internal/progress",
        {"id_task": "task(x)", "id_live_preview": -1, "live_preview": False},
    ),  # fmt: skip
    # Neither server has ADetailer here: the hub reads its absence from /scripts.
    Case("adetailer-version", "GET", "/adetailer/v1/version"),
    Case("adetailer-models", "GET", "/adetailer/v1/ad_model"),
    Case("unknown-route", "GET", f"{SD}/no-such-route"),
    # --- ControlNet ---
    Case("cn-version", "GET", "/controlnet/version", same=("$.version",)),
    Case("cn-model-list", "GET", "/controlnet/model_list", same=("$.model_list[]",)),
    Case(
        "cn-module-list",
        "GET",
        "/controlnet/module_list",
        query={"alias_names": "false"},
        same=("$.module_list[]",),
    ),  # fmt: skip
    Case(
        "cn-module-list-labels",
        "GET",
        "/controlnet/module_list",
        query={"alias_names": "true"},
        same=("$.module_list[]",),
    ),  # fmt: skip
    Case("cn-settings", "GET", "/controlnet/settings", same=("$.control_net_unit_count",)),
    Case(
        "cn-detect-canny",
        "POST",
        "/controlnet/detect",
        {
            "controlnet_module": "canny",
            "controlnet_input_images": [png_b64()],
            "controlnet_processor_res": 64,
            "controlnet_threshold_a": 100,
            "controlnet_threshold_b": 200,
        },
    ),  # fmt: skip
    Case(
        "cn-detect-default-res",
        "POST",
        "/controlnet/detect",
        {"controlnet_module": "canny", "controlnet_input_images": [png_b64()]},
    ),  # fmt: skip
    Case(
        "cn-detect-unknown-module",
        "POST",
        "/controlnet/detect",
        {"controlnet_module": "no_such_module", "controlnet_input_images": [png_b64()]},
        same=("$.error", "$.detail"),
    ),  # fmt: skip
    Case(
        "cn-detect-no-image",
        "POST",
        "/controlnet/detect",
        {"controlnet_module": "canny", "controlnet_input_images": []},
        same=("$.error", "$.detail"),
    ),  # fmt: skip
    # --- extras ---
    Case(
        "extra-single-lanczos",
        "POST",
        f"{SD}/extra-single-image",
        {"image": png_b64(), "upscaler_1": "Lanczos", "upscaling_resize": 2},
        same=("$.html_info",),
    ),  # fmt: skip
    Case(
        "extra-single-unknown-upscaler",
        "POST",
        f"{SD}/extra-single-image",
        {"image": png_b64(), "upscaler_1": "No Such Upscaler"},
        same=("$.error",),
    ),  # fmt: skip
    Case(
        "png-info",
        "POST",
        f"{SD}/png-info",
        {"image": _infotext_png()},
        same=("$.info", "$.parameters.*"),
    ),  # fmt: skip
    Case("png-info-no-text", "POST", f"{SD}/png-info", {"image": png_b64()}),
    Case(
        "png-info-bad-base64",
        "POST",
        f"{SD}/png-info",
        {"image": "bm90IGFuIGltYWdl"},
        same=("$.error", "$.errors"),
    ),  # fmt: skip
    Case("png-info-missing-image", "POST", f"{SD}/png-info", {}),
    # interrogate: only its error paths, which answer before any captioner loads (the real
    # captioners would try to download weights; see DELIBERATE for the `<error>` caption).
    Case(
        "interrogate-unknown-model",
        "POST",
        f"{SD}/interrogate",
        {"image": png_b64(), "model": "no_such_model"},
        same=("$.error", "$.detail"),
    ),
    Case(
        "interrogate-no-image",
        "POST",
        f"{SD}/interrogate",
        {"model": "clip"},
        same=("$.error", "$.detail"),
    ),  # fmt: skip
    # --- generation (64², 1 step: seconds each on the real server) ---
    Case("txt2img", "POST", f"{SD}/txt2img", {"prompt": "a red cube", **SMALL}),
    Case(
        "txt2img-batch",
        "POST",
        f"{SD}/txt2img",
        {"prompt": "two", **SMALL, "width": 96, "batch_size": 2},
    ),  # fmt: skip
    Case(
        "txt2img-unknown-sampler",
        "POST",
        f"{SD}/txt2img",
        {"prompt": "x", **SMALL, "sampler_name": "No Such Sampler"},
    ),  # fmt: skip
    Case(
        "txt2img-hires-without-denoising",
        "POST",
        f"{SD}/txt2img",
        {"prompt": "x", **SMALL, "enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent"},
        same=("$.error",),
    ),  # fmt: skip
    Case(
        "txt2img-bad-field",
        "POST",
        f"{SD}/txt2img",
        {"prompt": "x", "steps": "many"},
        same=("$.detail[].loc[]", "$.detail[].type"),
    ),  # fmt: skip
    Case("txt2img-not-json", "POST", f"{SD}/txt2img", b"{not json", raw=True),
    Case(
        "txt2img-unknown-script",
        "POST",
        f"{SD}/txt2img",
        {"prompt": "x", **SMALL, "alwayson_scripts": {"no such script": {"args": []}}},
        same=("$.error", "$.detail"),
    ),  # fmt: skip
    Case("txt2img-controlnet", "POST", f"{SD}/txt2img", lambda n: _cn(n)),
    Case(
        "txt2img-controlnet-bad-weight",
        "POST",
        f"{SD}/txt2img",
        lambda n: _cn(n, weight=2.5),
        same=("$.error",),
    ),  # fmt: skip
    Case(
        "txt2img-controlnet-unknown-module",
        "POST",
        f"{SD}/txt2img",
        lambda n: _cn(n, module="no_such_module"),
        same=("$.error",),
    ),  # fmt: skip
    Case(
        "txt2img-controlnet-unknown-model",
        "POST",
        f"{SD}/txt2img",
        lambda n: _cn(n, model="control_nope [00000000]"),
    ),  # fmt: skip
    Case(
        "img2img",
        "POST",
        f"{SD}/img2img",
        {"prompt": "x", **SMALL, "init_images": [png_b64()], "denoising_strength": 0.5},
    ),
    Case(
        "img2img-inpaint",
        "POST",
        f"{SD}/img2img",
        {
            "prompt": "x",
            **SMALL,
            "init_images": [png_b64()],
            "mask": mask_b64(),
            "mask_blur": 2,
            "inpainting_fill": 1,
            "denoising_strength": 0.75,
        },
    ),  # fmt: skip
    Case(
        "img2img-no-init-image",
        "POST",
        f"{SD}/img2img",
        {"prompt": "x", **SMALL},
        same=("$.error", "$.detail"),
    ),  # fmt: skip
]

# Differences kept on purpose: case id -> {difference pattern: why}. A pattern is matched
# (fnmatch) against the lines compare() reports.
DELIBERATE: dict[str, dict[str, str]] = {
    "memory": {
        "only real: $.cuda.error: str": "the real kit runs on CPU (cuda: {error: unavailable}); "
        "the simulator stands for a GPU box and answers CUDA figures",
        "only sim: $.cuda.*": "the same: CUDA figures only a GPU box has",
    },
}


def shape_lines(value: Any, path: str = "$") -> set[str]:
    """`path: type` for every node; a list's items share the path `[]`."""
    if isinstance(value, dict):
        lines = {f"{path}: dict"}
        for key, sub in value.items():
            lines |= shape_lines(sub, f"{path}.{key}")
        return lines
    if isinstance(value, list):
        lines = {f"{path}: list"}
        for item in value:
            lines |= shape_lines(item, f"{path}[]")
        return lines
    kind = "null" if value is None else type(value).__name__
    return {f"{path}: {kind}"}


def values_at(value: Any, pattern: str, path: str = "$") -> list[tuple[str, Any]]:
    """Leaves (and whole values) whose path matches ``pattern``."""
    found = [(path, value)] if fnmatch(path, pattern) else []
    if isinstance(value, dict):
        for key, sub in value.items():
            found += values_at(sub, pattern, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found += values_at(item, pattern, f"{path}[]")
    return found


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"<not json>": response.text[:200]}


def _images(body: Any) -> list[tuple[int, int]] | None:
    """Sizes of the generated/processed pictures a response carries, in order."""
    if not isinstance(body, dict):
        return None
    b64s = body.get("images")
    if b64s is None and isinstance(body.get("image"), str):
        b64s = [body["image"]]
    if not isinstance(b64s, list):
        return None
    sizes = []
    for b64 in b64s:
        img = Image.open(io.BytesIO(base64.b64decode(b64.split(",", 1)[-1])))
        sizes.append(img.size)
    return sizes


def compare(case: Case, real: requests.Response, sim: requests.Response) -> list[str]:
    """Every way the two answers differ, one line each."""
    out = []
    if real.status_code != sim.status_code:
        out.append(f"status: real {real.status_code}, sim {sim.status_code}")
    rb, sb = _body(real), _body(sim)
    for key in ("info",):  # generation's `info` is a JSON string: compare what it holds
        for body in (rb, sb):
            if isinstance(body, dict) and isinstance(body.get(key), str) and "images" in body:
                try:
                    body[key] = json.loads(body[key])
                except ValueError:
                    pass
    rs, ss = shape_lines(rb), shape_lines(sb)
    out += [f"only real: {line}" for line in sorted(rs - ss)]
    out += [f"only sim: {line}" for line in sorted(ss - rs)]
    if _images(rb) != _images(sb):
        out.append(f"images: real {_images(rb)}, sim {_images(sb)}")
    for pattern in case.same:
        rv, sv = values_at(rb, pattern), values_at(sb, pattern)
        if sorted(map(repr, rv)) != sorted(map(repr, sv)):
            missing = sorted(set(map(repr, rv)) - set(map(repr, sv)))[:5]
            extra = sorted(set(map(repr, sv)) - set(map(repr, rv)))[:5]
            out.append(f"value {pattern}: real has {missing}, sim has {extra}")
    return out


def _send(http: requests.Session, base: str, case: Case, names: Names) -> requests.Response:
    kwargs: dict[str, Any] = {"params": case.query, "timeout": 300}
    if case.raw:
        kwargs.update(data=case.body, headers={"Content-Type": "application/json"})
    elif case.method == "POST":
        kwargs["json"] = case.payload(names)
    return http.request(case.method, base + case.path, **kwargs)


@pytest.fixture(scope="module")
def names(real_catalog: dict[str, Any]) -> Names:
    return {
        "checkpoint": real_catalog["checkpoints"][0]["title"],
        "cn_model": next(m for m in real_catalog["controlnet_models"] if "canny" in m),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_real_and_simulator_answer_alike(case, real, real_url, sim_like_real, names):
    sim_like_real.reset()
    with requests.Session() as sim_http:
        sim = _send(sim_http, sim_like_real.url, case, names)
    got_real = _send(real, real_url, case, names)
    differences = compare(case, got_real, sim)
    deliberate = DELIBERATE.get(case.id, {})
    unexplained = [d for d in differences if not any(fnmatch(d, p) for p in deliberate)]
    stale = [p for p in deliberate if not any(fnmatch(d, p) for d in differences)]
    assert unexplained == [], f"{case.method} {case.path}: {unexplained}"
    assert stale == [], f"deliberate differences that no longer happen: {stale}"


def client_routes() -> set[tuple[str, str]]:
    """(method, path) of every A1111 route a1111/client.py calls."""
    source = (ROOT / "a1111" / "client.py").read_text()
    calls = re.findall(r'_(get|post)\(\s*"(/[^"]+)"', source)
    calls += re.findall(r'_request\(\s*"(GET|POST)",\s*"(/[^"]+)"', source)
    calls += [("post", path) for path in re.findall(r'_generate\(\s*"(/[^"]+)"', source)]
    return {(method.upper(), path) for method, path in calls}


def test_every_route_the_hub_calls_is_compared():
    routes = client_routes()
    assert len(routes) >= 34  # the parse found the client's routes
    covered = {(c.method, c.path) for c in CASES}
    assert routes - covered == set()


def test_compare_reports_a_changed_shape_status_and_image_count():
    """The comparison itself can fail: a missing key, another type, another status."""

    def response(status: int, body: Any) -> requests.Response:
        r = requests.Response()
        r.status_code, r._content = status, json.dumps(body).encode()
        return r

    case = Case("t", "GET", "/x", same=("$.name",))
    real = response(200, {"name": "a", "n": 1, "images": [png_b64()]})
    sim = response(500, {"name": "b", "n": "1", "images": [png_b64(), png_b64()]})
    lines = compare(case, real, sim)
    assert "status: real 200, sim 500" in lines
    assert "only real: $.n: int" in lines and "only sim: $.n: str" in lines
    assert any(line.startswith("images:") for line in lines)
    assert any(line.startswith("value $.name") for line in lines)
