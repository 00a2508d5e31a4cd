"""HTTP front of the simulator: A1111's routes, auth, error shapes, plus /sim/* admin routes.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive; every response has a
Content-Length and the ``X-A1111-Simulator`` header so a client can tell it from the real
webui.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import __version__, adetailer, catalog, controlnet, extras, render
from .engine import Engine
from .faults import Decision, Faults
from .loras import LoraLibrary, seed_sample_loras
from .validation import (
    DETECT_REQUEST,
    IMG2IMG,
    PNG_INFO_REQUEST,
    PROGRESS_REQUEST,
    TXT2IMG,
    ApiError,
    FieldInvalid,
    coerce,
    http_error,
    parse_json_body,
    validate_model,
    validation_error,
)

SIM_HEADER = f"a1111sim/{__version__}"
NO_AUTH_SDAPI = {"/sdapi/v1/loras", "/sdapi/v1/refresh-loras"}
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    lora_dir: str | None = None
    step_ms: int = 50
    swap_ms: int = 500
    api_auth: str | None = None
    models_json: str | None = None
    nowebui: bool = False
    controlnet: bool = True
    regional_prompter: bool = True
    adetailer: bool = True
    fail_rate: float = 0.0
    seed_loras: bool = False
    controlnet_unit_count: int = 3  # ControlNet's unit slots, fixed for the process's life


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    raw: bytes
    injected: ApiError | None = None  # a fault to raise inside the generation

    def json(self) -> Any:
        return parse_json_body(self.raw, self.headers.get("Content-Type"))

    def query_bool(self, name: str, default: bool) -> bool:
        values = self.query.get(name)
        if not values:
            return default
        try:
            return coerce(values[-1], "bool")
        except FieldInvalid as exc:
            raise validation_error(
                [{"loc": ["query", name], "msg": exc.msg, "type": exc.type}]
            ) from None


Handler = Callable[[Request], Any]


class Simulator:
    """Routes requests to the engine; holds everything one simulator instance serves."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.requests: Counter = Counter()
        self._count_lock = threading.Lock()
        if config.seed_loras:
            if not config.lora_dir:
                raise ValueError("--seed-loras needs --lora-dir")
            seed_sample_loras(config.lora_dir)
        self.catalog = catalog.load_catalog(config.models_json)
        self.loras = LoraLibrary(config.lora_dir)
        self.faults = Faults(config.fail_rate, config.step_ms, config.swap_ms)
        self.engine = Engine(self.catalog, self.loras, self.faults, controlnet_on=config.controlnet,
                             regional_on=config.regional_prompter,
                             unit_count=config.controlnet_unit_count,
                             adetailer_on=config.adetailer, ui=not config.nowebui)  # fmt: skip
        self.credentials = self._parse_auth(config.api_auth)
        self.routes: dict[tuple[str, str], Handler] = {}
        self._register()

    @staticmethod
    def _parse_auth(spec: str | None) -> dict[str, str]:
        if not spec:
            return {}
        pairs = {}
        for item in spec.strip().split(","):
            user, password = item.strip().split(":")  # a ':' in a password breaks A1111 too
            pairs[user] = password
        return pairs

    def reset(self) -> None:
        self.faults.reset()
        self.engine.reset()
        self.loras.refresh()
        self.requests = Counter()

    def count(self, path: str) -> None:
        """Requests served per route (not /sim/*): lets a test see that nothing was asked."""
        if not path.startswith("/sim/"):
            with self._count_lock:
                self.requests[path] += 1

    # --- routing ---

    def _register(self) -> None:
        r = self.routes
        e = self.engine
        sd = "/sdapi/v1/"
        r["POST", sd + "txt2img"] = lambda q: self._generate("txt2img", TXT2IMG, q)
        r["POST", sd + "img2img"] = lambda q: self._generate("img2img", IMG2IMG, q)
        r["GET", sd + "progress"] = lambda q: e.progress(q.query_bool("skip_current_image", False))
        r["POST", sd + "interrupt"] = self._interrupt
        r["POST", sd + "skip"] = self._skip
        r["GET", sd + "options"] = lambda q: dict(e.options)
        r["POST", sd + "options"] = self._set_options
        r["GET", sd + "cmd-flags"] = lambda q: self._cmd_flags()
        r["GET", sd + "sd-models"] = lambda q: [c.api_json() for c in self.catalog.checkpoints]
        r["GET", sd + "sd-vae"] = lambda q: [
            {"model_name": v, "filename": f"{catalog.WEBUI_ROOT}/models/VAE/{v}"}
            for v in self.catalog.vaes
        ]
        r["GET", sd + "samplers"] = lambda q: catalog.sampler_list()
        r["GET", sd + "schedulers"] = lambda q: catalog.scheduler_list()
        r["GET", sd + "upscalers"] = lambda q: self.catalog.upscalers()
        r["GET", sd + "latent-upscale-modes"] = lambda q: [
            {"name": n} for n in catalog.LATENT_UPSCALE_MODES
        ]
        r["GET", sd + "embeddings"] = lambda q: self._embeddings()
        r["GET", sd + "hypernetworks"] = lambda q: [
            {"name": n, "path": f"{catalog.WEBUI_ROOT}/models/hypernetworks/{n}.pt"}
            for n in self.catalog.hypernetworks
        ]
        r["GET", sd + "face-restorers"] = lambda q: [
            # v1.10's restorers have no cmd_dir attribute: getattr(..., None)
            {"name": "CodeFormer", "cmd_dir": None},
            {"name": "GFPGAN", "cmd_dir": None},
        ]
        r["GET", sd + "realesrgan-models"] = lambda q: [
            {"name": u["name"], "path": u["model_path"], "scale": 4}
            for u in self.catalog.upscalers()
            if u["model_name"] == "RealESRGAN"
        ]
        r["GET", sd + "prompt-styles"] = lambda q: [
            {
                "name": st["name"],
                "prompt": st.get("prompt"),
                "negative_prompt": st.get("negative_prompt"),
            }
            for st in self.catalog.styles
        ]
        r["POST", sd + "extra-single-image"] = self._extra_single
        r["POST", sd + "extra-batch-images"] = self._extra_batch
        r["POST", sd + "interrogate"] = self._interrogate
        r["GET", sd + "memory"] = lambda q: self._memory()
        r["GET", sd + "scripts"] = lambda q: {
            "txt2img": catalog.script_titles(
                False, self.config.controlnet, self.config.regional_prompter, self.config.adetailer
            ),
            "img2img": catalog.script_titles(
                True, self.config.controlnet, self.config.regional_prompter, self.config.adetailer
            ),
        }
        r["GET", sd + "script-info"] = lambda q: catalog.script_info(
            self.config.controlnet, self.config.regional_prompter, self.engine.unit_slots,
            self.config.adetailer, adetailer.MAX_MODELS,
        )  # fmt: skip
        r["GET", sd + "extensions"] = lambda q: catalog.extensions_list(
            self.config.controlnet, self.config.regional_prompter, self.config.adetailer
        )
        r["GET", sd + "loras"] = lambda q: self.loras.list()
        r["POST", sd + "refresh-loras"] = lambda q: self.loras.refresh()
        for name in ("refresh-checkpoints", "refresh-vae", "refresh-embeddings"):
            r["POST", sd + name] = self._locked_noop
        r["POST", sd + "unload-checkpoint"] = lambda q: {}
        r["POST", sd + "reload-checkpoint"] = lambda q: e.reload_checkpoint() or {}
        r["POST", sd + "png-info"] = self._png_info
        if not self.config.nowebui:
            r["POST", "/internal/progress"] = self._internal_progress
            r["GET", "/internal/pending-tasks"] = lambda q: {
                "size": len(e.tasks.pending),
                "tasks": e.tasks.queue_order(),
            }
            r["GET", "/internal/ping"] = lambda q: {}
        if self.config.controlnet:
            r["GET", "/controlnet/version"] = lambda q: {"version": 3}
            r["GET", "/controlnet/model_list"] = lambda q: {
                "model_list": list(self.catalog.controlnet_models)
            }
            r["GET", "/controlnet/module_list"] = lambda q: controlnet.module_list(
                q.query_bool("alias_names", False)
            )
            r["GET", "/controlnet/control_types"] = lambda q: {
                "control_types": controlnet.control_types(self.catalog.controlnet_models)
            }
            r["GET", "/controlnet/settings"] = lambda q: {
                "control_net_unit_count": self._unit_count()
            }
            r["POST", "/controlnet/detect"] = self._detect
        if self.config.adetailer:
            r["GET", "/adetailer/v1/version"] = lambda q: {"version": adetailer.VERSION}
            r["GET", "/adetailer/v1/ad_model"] = lambda q: {"ad_model": list(adetailer.MODELS)}
            r["GET", "/adetailer/v1/schema"] = lambda q: adetailer.schema()
        r["GET", "/sim/state"] = lambda q: self._sim_state()
        r["POST", "/sim/faults"] = lambda q: self.faults.update(q.json())
        r["GET", "/sim/faults"] = lambda q: self.faults.state()
        r["POST", "/sim/reset"] = lambda q: self.reset() or self._sim_state()

    def needs_auth(self, path: str) -> bool:
        return (
            bool(self.credentials) and path.startswith("/sdapi/v1/") and path not in NO_AUTH_SDAPI
        )

    def check_auth(self, header: str | None) -> None:
        """FastAPI HTTPBasic + A1111's compare_digest check."""
        if not header or not header.lower().startswith("basic "):
            raise http_error(401, "Not authenticated")
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise http_error(401, "Invalid authentication credentials") from None
        expected = self.credentials.get(user)
        if expected is None or not secrets.compare_digest(password, expected):
            raise http_error(401, "Incorrect username or password")

    # --- handlers ---

    def _generate(self, kind: str, spec: Any, q: Request) -> Any:
        payload = q.json()
        self._auth_after_body(q)
        req = validate_model(payload, spec)
        return self.engine.generate(kind, req, payload, q.injected)

    def _auth_after_body(self, q: Request) -> None:
        """FastAPI decodes the JSON body before dependencies (auth) run, then validates it."""
        if self.needs_auth(q.path):
            self.check_auth(q.headers.get("Authorization"))

    def _interrupt(self, q: Request) -> dict[str, Any]:
        # api.interruptapi -> State.interrupt: no job check; State.begin clears it again
        self.engine.state.interrupted = True
        return {}

    def _skip(self, q: Request) -> None:
        self.engine.state.skipped = True

    def _set_options(self, q: Request) -> None:
        body = q.json()
        self._auth_after_body(q)
        if body is None:
            raise validation_error(
                [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]
            )
        try:
            body = coerce(body, "dict")
        except FieldInvalid as exc:
            raise validation_error([{"loc": ["body"], "msg": exc.msg, "type": exc.type}]) from None
        self.engine.set_options(body)

    def _locked_noop(self, q: Request) -> None:
        with self.engine.queue_lock:
            return None

    def _unit_count(self) -> int:
        """external_code.get_max_models_num: the option's current value (what /settings says);
        with --nowebui the option is not registered and the slots' count stands in for it."""
        return int(self.engine.options.get("control_net_unit_count", self.engine.unit_slots))

    def _embeddings(self) -> dict[str, Any]:
        base = self.engine.loaded.base
        out: dict[str, dict[str, Any]] = {"loaded": {}, "skipped": {}}
        for emb in self.catalog.embeddings:
            item = {
                "step": None,
                "sd_checkpoint": None,
                "sd_checkpoint_name": None,
                "shape": 2048 if emb.get("base") == "sdxl" else 768,
                "vectors": emb.get("vectors", 1),
            }
            out["loaded" if emb.get("base", "sd1") == base else "skipped"][emb["name"]] = item
        return out

    def _memory(self) -> dict[str, Any]:
        gib = 1024**3
        return {
            # api.get_memory: used is the process's RSS (int), total is computed (float)
            "ram": {"free": 32.0 * gib - 9 * gib, "used": 9 * gib, "total": 32.0 * gib},
            "cuda": {  # torch.cuda.mem_get_info / memory_stats: byte counts (ints)
                "system": {"free": 4 * gib, "used": 8 * gib, "total": 12 * gib},
                "active": {"current": 2 * gib, "peak": 5 * gib},
                "allocated": {"current": 2 * gib, "peak": 5 * gib},
                "reserved": {"current": 3 * gib, "peak": 6 * gib},
                "inactive": {"current": gib // 2, "peak": gib},
                "events": {"retries": 0, "oom": 0},
            },
        }

    def _cmd_flags(self) -> dict[str, Any]:
        return {
            "api": True,
            "nowebui": self.config.nowebui,
            "listen": self.config.host != "127.0.0.1",
            "port": self.config.port,
            "api_auth": self.config.api_auth,
            "gradio_auth": None,
            "lora_dir": self.config.lora_dir,
            "ckpt_dir": None,
            "vae_dir": None,
            "data_dir": catalog.WEBUI_ROOT,
            "models_dir": None,
            "xformers": True,
            "medvram": False,
            "lowvram": False,
            "api_server_stop": False,
            "api_log": False,
            "cors_allow_origins": None,
            "skip_torch_cuda_test": False,
            "no_half": False,
            "disable_safe_unpickle": False,
        }

    def _png_info(self, q: Request) -> dict[str, Any]:
        body = q.json()
        self._auth_after_body(q)
        req = validate_model(body, PNG_INFO_REQUEST)
        # api.pnginfoapi decodes first: "" is 500 Invalid encoded image
        img = render.decode_image((req["image"] or "").strip())
        items = {k: v for k, v in (img.info or {}).items() if isinstance(v, (str, int, float))}
        info = str(items.pop("parameters", "") or "")
        return {"info": info, "items": items, "parameters": parse_generation_parameters(info)}

    def _extras_request(self, q: Request, spec: Any) -> tuple[dict[str, Any], Any]:
        body = q.json()
        self._auth_after_body(q)
        req = validate_model(body, spec)
        extras.check_extras(req)
        return req, body

    def _extra_single(self, q: Request) -> dict[str, Any]:
        req, body = self._extras_request(q, extras.EXTRAS_SINGLE)
        record = self.engine.record("/sdapi/v1/extra-single-image", "", {}, body)
        img = render.decode_image(req["image"])  # "" -> 500 Invalid encoded image
        images, html_info = extras.run_extras(self.engine, [img], req, self._upscaler_names())
        record.update(status="ok", images=len(images), finished_at=time.time())
        return {"html_info": html_info, "image": images[0] if images else None}

    def _extra_batch(self, q: Request) -> dict[str, Any]:
        req, body = self._extras_request(q, extras.EXTRAS_BATCH)
        items = req["imageList"]
        errors = []
        if items is None and "imageList" not in (body or {}):
            errors.append(
                {
                    "loc": ["body", "imageList"],
                    "msg": "field required",
                    "type": "value_error.missing",
                }
            )
        for i, item in enumerate(items or []):
            for key in ("data", "name"):
                if not isinstance(item, dict) or key not in item:
                    errors.append({"loc": ["body", "imageList", i, key], "msg": "field required",
                                   "type": "value_error.missing"})  # fmt: skip
        if errors:
            raise validation_error(errors)
        record = self.engine.record("/sdapi/v1/extra-batch-images", "", {}, body)
        images = [render.decode_image(item["data"]) for item in items or []]
        out, html_info = extras.run_extras(self.engine, images, req, self._upscaler_names())
        record.update(status="ok", images=len(out), finished_at=time.time())
        return {"html_info": html_info, "images": out}

    def _upscaler_names(self) -> set[str]:
        return {u["name"] for u in self.catalog.upscalers()}

    def _interrogate(self, q: Request) -> dict[str, Any]:
        body = q.json()
        self._auth_after_body(q)
        req = validate_model(body, extras.INTERROGATE)
        if req["image"] is None:
            raise http_error(404, "Image not found")
        img = render.decode_image(req["image"])
        record = self.engine.record("/sdapi/v1/interrogate", "", {}, body)
        caption = extras.interrogate(self.engine, img, req["model"])
        record.update(status="ok", finished_at=time.time())
        return {"caption": caption}

    def _internal_progress(self, q: Request) -> dict[str, Any]:
        req = validate_model(q.json(), PROGRESS_REQUEST)
        return self.engine.task_progress(
            req["id_task"], req["id_live_preview"], req["live_preview"] is not False
        )

    def _detect(self, q: Request) -> dict[str, Any]:
        body = q.json()
        req = validate_model(body, DETECT_REQUEST, required=False)
        record = self.engine.record("/controlnet/detect", "", {}, body)
        module = controlnet.resolve_module(req["controlnet_module"])
        if module is None:
            raise http_error(422, "Module not available")
        if module in controlnet.DETECT_UNSUPPORTED:
            raise http_error(422, "Module not supported")
        images = req["controlnet_input_images"] or []
        if not images:
            raise http_error(422, "No image selected")
        res = req["controlnet_processor_res"]
        out, poses = [], []
        for data in images:
            img = render.decode_image(data)
            detected = render.preprocess(controlnet.MODULES[module][0], img, res if res and res > 0 else 512,
                                         req["controlnet_threshold_a"], req["controlnet_threshold_b"])  # fmt: skip
            out.append(render.encode_image(detected, None))
            if module.startswith(("openpose", "dw_openpose")):
                poses.append(render.pose_for(detected))
        record.update(status="ok", images=len(out), finished_at=time.time())
        result: dict[str, Any] = {"images": out, "info": "Success"}
        if poses:
            result["poses"] = poses
        return result

    def _sim_state(self) -> dict[str, Any]:
        return {
            "faults": self.faults.state(),
            "loaded_checkpoint": self.engine.loaded.title,
            "loaded_vae": self.engine.loaded_vae,
            "busy": self.engine.busy(),
            "history": self.engine.history_list(),
            "requests": dict(self.requests),
            "config": asdict(self.config),
        }


# infotext_utils.parse_generation_parameters fills these in when the text lacks them, in this
# order (after the parsed fields, Prompt and Negative prompt).
PARSE_DEFAULTS: list[tuple[str, Any]] = [
    ("Clip skip", "1"), ("Hires resize-1", 0),
    ("Hires sampler", "Use same sampler"), ("Hires schedule type", "Use same scheduler"),
    ("Hires checkpoint", "Use same checkpoint"), ("Hires prompt", ""),
    ("Hires negative prompt", ""), ("Mask mode", "Inpaint masked"), ("Masked content", "original"),
    ("Inpaint area", "Whole picture"), ("Masked area padding", 32), ("RNG", "GPU"),
    ("Schedule type", "Automatic"), ("Schedule max sigma", 0), ("Schedule min sigma", 0),
    ("Schedule rho", 0), ("VAE Encoder", "Full"), ("VAE Decoder", "Full"),
    ("FP8 weight", "Disable"),
]  # fmt: skip
RE_EMPHASIS = re.compile(r"(?<!\\)[(\[]")


def parse_generation_parameters(text: str) -> dict[str, Any]:
    """infotext_utils.parse_generation_parameters (the common subset), defaults included:
    an empty text still answers Prompt, Negative prompt and every default."""
    res: dict[str, Any] = {}
    *lines, last = (text or "").strip().split("\n")
    if len(RE_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[16:].strip()
        (negative if in_negative else prompt).append(line)
    for key, value in RE_PARAM.findall(last):
        value = value.strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                pass
        m = RE_SIZE.match(str(value))
        if m:
            res[f"{key}-1"], res[f"{key}-2"] = m.group(1), m.group(2)
        else:
            res[key] = value
    res["Prompt"] = "\n".join(prompt)
    res["Negative prompt"] = "\n".join(negative)
    for key, value in PARSE_DEFAULTS:
        if key == "Hires resize-1" and key not in res:  # A1111 sets the pair together
            res["Hires resize-1"], res["Hires resize-2"] = 0, 0
        elif key != "Hires resize-2":
            res.setdefault(key, value)
    if res["FP8 weight"] != "Disable":
        res.setdefault("Cache FP16 weight for LoRA", False)
    # prompt_parser.parse_prompt_attention: any weighted part (approximated: an unescaped
    # bracket) makes "Emphasis" Original
    if RE_EMPHASIS.search(res["Prompt"] + res["Negative prompt"]):
        res.setdefault("Emphasis", "Original")
    res.setdefault("Refiner switch by sampling steps", False)
    return res


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""
    sim: Simulator  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def version_string(self) -> str:
        return "uvicorn"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        started = time.time()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        raw = self._read_body()
        sim = self.sim
        sim.count(path)
        decision = sim.faults.decide(path)
        if decision.hang_seconds:
            time.sleep(decision.hang_seconds)
        if decision.drop:
            self._drop()
            return
        injected = decision.error if path in _GENERATION_ROUTES else None
        req = Request(method, path, parse_qs(url.query), self.headers, raw, injected)
        status, body = self._dispatch(req, decision)
        self._send(status, body, started)

    def _dispatch(self, req: Request, decision: Decision) -> tuple[int, Any]:
        sim = self.sim
        handler = sim.routes.get((req.method, req.path))
        try:
            if handler is None:
                if any(p == req.path for _, p in sim.routes):
                    return 405, {"detail": "Method Not Allowed"}
                return 404, {"detail": "Not Found"}
            if decision.error is not None and req.injected is None:
                raise decision.error
            if sim.needs_auth(req.path) and req.path not in _BODY_ROUTES:
                sim.check_auth(req.headers.get("Authorization"))
            return 200, handler(req)
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # noqa: BLE001 - A1111's middleware turns anything into JSON
            return 500, {"error": type(exc).__name__, "detail": "", "body": "", "errors": str(exc)}

    def _send(self, status: int, body: Any, started: float) -> None:
        data = json.dumps(body).encode()
        gzipped = len(data) >= 1000 and "gzip" in (self.headers.get("Accept-Encoding") or "")
        if gzipped:
            data = gzip.compress(data, compresslevel=5)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("X-Process-Time", f"{time.time() - started:.4f}")
            self.send_header("X-A1111-Simulator", SIM_HEADER)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_GENERATION_ROUTES = {"/sdapi/v1/txt2img", "/sdapi/v1/img2img"}
# Routes whose handler decodes a body first and checks auth itself (FastAPI ordering).
_BODY_ROUTES = {
    *_GENERATION_ROUTES,
    "/sdapi/v1/options",
    "/sdapi/v1/png-info",
    "/sdapi/v1/extra-single-image",
    "/sdapi/v1/extra-batch-images",
    "/sdapi/v1/interrogate",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class SimServer:
    """A running simulator (see start_in_thread)."""

    def __init__(self, config: SimConfig) -> None:
        self.simulator = Simulator(config)
        handler = type("BoundHandler", (_HTTPHandler,), {"sim": self.simulator})
        self.httpd = _Server((config.host, config.port), handler)
        self.port: int = self.httpd.server_address[1]
        self.simulator.config.port = self.port
        self.url = f"http://{config.host}:{self.port}"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.simulator.reset()


def start_in_thread(config: SimConfig) -> SimServer:
    server = SimServer(config)
    server._thread = threading.Thread(target=server.serve_forever, name="a1111sim", daemon=True)
    server._thread.start()
    return server


def serve(config: SimConfig) -> None:
    """Run until SIGTERM/SIGINT; prints the one 'listening' line launchers wait for."""
    server = SimServer(config)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"a1111sim listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
    sys.stdout.flush()
