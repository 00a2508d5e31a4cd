"""The one HTTP client for A1111 (and a1111sim). Nothing else builds A1111 URLs.

A thin, typed wrapper over ``requests.Session``: explicit timeouts per kind of call
(a generation may take minutes, a listing must not hang the API), HTTP basic auth for
A1111's ``--api-auth``, retries on connection errors for idempotent calls only, and one
exception type that carries the backend URL, the HTTP status and A1111's own message.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

SIMULATOR_HEADER = "X-A1111-Simulator"


class A1111Error(Exception):
    """A1111 answered with an error, or could not be reached (``status`` is None then).

    ``failure`` tells the cases apart that matter for a retry: "connect" (the request never
    reached A1111: safe to send elsewhere), "timeout" (A1111 may still be working on it),
    "dropped" (the connection broke mid-way), "http" (A1111 answered with an error).
    """

    def __init__(
        self, url: str, status: int | None, message: str, body: Any = None, failure: str = "http"
    ):
        self.url = url
        self.status = status
        self.message = message
        self.body = body
        self.failure = failure
        where = f"HTTP {status}" if status else "unreachable"
        super().__init__(f"A1111 at {url} ({where}): {message}")

    @property
    def unreachable(self) -> bool:
        return self.status is None


def _error_message(response: requests.Response) -> tuple[str, Any]:
    """Pull A1111's own words out of its two error shapes (its middleware's and FastAPI's)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] or response.reason or "error"), text
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI 422: [{"loc": [...], "msg": ...}]
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                    parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            return "; ".join(parts) or "invalid request", body
        error = body.get("error")
        errors = body.get("errors")
        message = detail or errors or error or response.reason
        if error and detail and error not in ("HTTPException",):
            message = f"{error}: {detail}"
        elif error and not detail and errors:
            message = f"{error}: {errors}"
        return str(message), body
    return str(body)[:500], body


class A1111Client:
    """One backend. Cheap to create; holds a pooled ``requests.Session``."""

    def __init__(
        self,
        base_url: str,
        auth: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        generation_timeout: float | None = None,
        connect_retries: int = 2,
    ):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout or settings.A1111_CONNECT_TIMEOUT
        self.read_timeout = read_timeout or settings.A1111_READ_TIMEOUT
        self.generation_timeout = generation_timeout or settings.A1111_GENERATION_TIMEOUT
        self.session = requests.Session()
        auth = settings.A1111_AUTH if auth is None else auth
        if auth:
            user, _, password = auth.partition(":")
            self.session.auth = (user, password)
        # Only idempotent calls are retried, and only when the connection failed: a
        # generation that reached A1111 must never be sent twice.
        retry = Retry(
            total=connect_retries,
            connect=connect_retries,
            read=0,
            status=0,
            other=0,
            backoff_factor=0.2,
            allowed_methods=frozenset({"GET"}),
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=8))
        self.session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=8))
        self._read_environment_once()
        self.last_response_headers: dict[str, str] = {}

    def _read_environment_once(self) -> None:
        """What requests takes from the environment (proxies and NO_PROXY, a CA bundle,
        ~/.netrc), read now for this backend's URL instead of on every request: requests
        scans all of os.environ per call, a fifth of the CPU of a progress poll."""
        found = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies.update(found["proxies"])
        self.session.verify = found["verify"]
        self.session.cert = found["cert"]
        if not self.session.auth:
            self.session.auth = requests.utils.get_netrc_auth(self.base_url)
        self.session.trust_env = False

    def close(self) -> None:
        self.session.close()

    # --- plumbing ---------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                params=params,
                timeout=(self.connect_timeout, read_timeout or self.read_timeout),
            )
        except requests.ConnectTimeout as exc:
            raise A1111Error(
                self.base_url, None, "could not connect (timed out)", failure="connect"
            ) from exc
        except requests.Timeout as exc:
            raise A1111Error(
                self.base_url, None, f"timed out waiting for {path}", failure="timeout"
            ) from exc
        except requests.ConnectionError as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, NewConnectionError):
                raise A1111Error(
                    self.base_url, None, "could not connect (connection refused)", failure="connect"
                ) from exc
            raise A1111Error(
                self.base_url, None, "the connection broke before A1111 answered", failure="dropped"
            ) from exc
        except requests.RequestException as exc:
            raise A1111Error(
                self.base_url, None, f"request failed ({exc.__class__.__name__})", failure="dropped"
            ) from exc
        self.last_response_headers = dict(response.headers)
        if response.status_code >= 400:
            message, body = _error_message(response)
            raise A1111Error(self.base_url, response.status_code, message, body)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise A1111Error(
                self.base_url, response.status_code, f"{path} did not answer JSON"
            ) from exc

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None)

    def _post(self, path: str, body: Any = None, read_timeout: float | None = None) -> Any:
        return self._request("POST", path, json_body=body, read_timeout=read_timeout)

    @property
    def is_simulator(self) -> bool:
        """True when the last answer came from a1111sim (it marks every response)."""
        return SIMULATOR_HEADER.lower() in {k.lower() for k in self.last_response_headers}

    # --- generation -------------------------------------------------------------------
    def txt2img(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._generate("/sdapi/v1/txt2img", payload)

    def img2img(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._generate("/sdapi/v1/img2img", payload)

    def _generate(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        result = self._post(path, payload, read_timeout=self.generation_timeout)
        if not isinstance(result, dict):
            raise A1111Error(self.base_url, 200, f"{path} answered an unexpected shape")
        info = result.get("info")
        if isinstance(info, str):  # A1111 JSON-encodes `info` a second time
            try:
                result["info"] = json.loads(info) if info else {}
            except ValueError:
                result["info"] = {"raw": info}
        return result

    def progress(self, skip_current_image: bool = True) -> dict[str, Any]:
        return self._get("/sdapi/v1/progress", skip_current_image=str(skip_current_image).lower())

    def task_progress(
        self, task_id: str, id_live_preview: int = -1, live_preview: bool = False
    ) -> dict[str, Any]:
        """Progress of one task by its ``force_task_id`` (UI mode only; 404 with --nowebui).

        With ``live_preview``, A1111 adds the current preview as a data URI when its
        ``id_live_preview`` differs from the one given (the last one the caller has)."""
        return self._post(
            "/internal/progress",
            {"id_task": task_id, "id_live_preview": id_live_preview, "live_preview": live_preview},
        )

    def interrupt(self) -> None:
        self._post("/sdapi/v1/interrupt")

    def skip(self) -> None:
        self._post("/sdapi/v1/skip")

    # --- options and listings ---------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return self._get("/sdapi/v1/options")

    def set_options(self, options: dict[str, Any]) -> None:
        self._post("/sdapi/v1/options", options, read_timeout=self.generation_timeout)

    def sd_models(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/sd-models")

    def sd_vae(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/sd-vae")

    def samplers(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/samplers")

    def schedulers(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/schedulers")

    def upscalers(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/upscalers")

    def latent_upscale_modes(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/latent-upscale-modes")

    def embeddings(self) -> dict[str, Any]:
        return self._get("/sdapi/v1/embeddings")

    def loras(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/loras")

    def refresh_loras(self) -> None:
        self._post("/sdapi/v1/refresh-loras")

    def refresh_checkpoints(self) -> None:
        self._post("/sdapi/v1/refresh-checkpoints", read_timeout=self.generation_timeout)

    def memory(self) -> dict[str, Any]:
        return self._get("/sdapi/v1/memory")

    def scripts(self) -> dict[str, list[str]]:
        return self._get("/sdapi/v1/scripts")

    def script_info(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/script-info")

    # --- ControlNet extension ---------------------------------------------------------
    def controlnet_version(self) -> int:
        return int(self._get("/controlnet/version")["version"])

    def controlnet_model_list(self) -> list[str]:
        return list(self._get("/controlnet/model_list")["model_list"])

    def controlnet_module_list(self, alias_names: bool = False) -> dict[str, Any]:
        """Preprocessors by name, or by label (the UI's spelling) with ``alias_names``."""
        return self._get("/controlnet/module_list", alias_names=str(alias_names).lower())

    def controlnet_settings(self) -> dict[str, Any]:
        return self._get("/controlnet/settings")

    def controlnet_detect(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/controlnet/detect", body, read_timeout=self.generation_timeout)

    # --- extras, captions, PNG info, more listings -----------------------------------------
    def extra_single_image(self, body: dict[str, Any]) -> dict[str, Any]:
        """Upscale / restore faces on one image (takes A1111's generation lock)."""
        return self._post(
            "/sdapi/v1/extra-single-image", body, read_timeout=self.generation_timeout
        )

    def interrogate(self, image_b64: str, model: str) -> str:
        """A caption; ``model`` is ``clip`` or ``deepdanbooru`` (takes the generation lock)."""
        body = {"image": image_b64, "model": model}
        answer = self._post("/sdapi/v1/interrogate", body, read_timeout=self.generation_timeout)
        return str((answer or {}).get("caption") or "")

    def png_info(self, image_b64: str) -> dict[str, Any]:
        return self._post("/sdapi/v1/png-info", {"image": image_b64})

    def face_restorers(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/face-restorers")

    def prompt_styles(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/prompt-styles")

    def hypernetworks(self) -> list[dict[str, Any]]:
        return self._get("/sdapi/v1/hypernetworks")

    def adetailer_version(self) -> str:
        return str(self._get("/adetailer/v1/version").get("version"))

    def adetailer_models(self) -> list[str]:
        return list(self._get("/adetailer/v1/ad_model").get("ad_model") or [])

    # --- cheap liveness probe -----------------------------------------------------------
    def ping(self) -> float:
        """Round-trip time in seconds of a cheap authenticated call."""
        start = time.perf_counter()
        self._request("GET", "/sdapi/v1/progress", params={"skip_current_image": "true"})
        return time.perf_counter() - start
