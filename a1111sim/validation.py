"""Request-body validation that behaves like FastAPI 0.94 + pydantic v1, as A1111 uses them.

A1111 builds its request models from the processing dataclasses with every field Optional,
so ``null`` is accepted anywhere; wrong types give a 422 whose ``detail`` lists pydantic v1
errors; unknown keys are dropped silently. Coercions follow pydantic v1: ``"20"`` and
``20.7`` are valid ints (20), ``"yes"``/``1`` valid bools, numbers valid strings.
"""

from __future__ import annotations

import json
from typing import Any

Spec = list[tuple[str, str, Any]]  # (field, type, default)


class ApiError(Exception):
    """An error answered as JSON: A1111's {error, detail, body, errors} shape unless raw."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = "",
        errors: str | None = None,
        raw: Any = None,
    ) -> None:
        super().__init__(errors or str(detail))
        self.status = status
        self.error = error
        self.detail = detail
        self.errors = errors
        self.raw = raw

    def body(self) -> Any:
        if self.raw is not None:
            return self.raw
        errors = self.errors
        if errors is None:  # starlette 0.26's HTTPException has no str(): "" (as observed)
            errors = ""
        return {"error": self.error, "detail": self.detail, "body": "", "errors": errors}


def http_error(status: int, detail: str) -> ApiError:
    """FastAPI HTTPException raised in a handler, as A1111's middleware renders it."""
    return ApiError(status, "HTTPException", detail)


def runtime_error(message: str, error: str = "RuntimeError") -> ApiError:
    """Any other exception: status 500, class name and str(exc)."""
    return ApiError(500, error, "", message)


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, "RequestValidationError", raw={"detail": errors})


_COMMON: Spec = [
    ("prompt", "str", ""),
    ("negative_prompt", "str", ""),
    ("styles", "list[str]", None),
    ("seed", "int", -1),
    ("subseed", "int", -1),
    ("subseed_strength", "float", 0),
    ("seed_resize_from_h", "int", -1),
    ("seed_resize_from_w", "int", -1),
    ("sampler_name", "str", None),
    ("scheduler", "str", None),
    ("batch_size", "int", 1),
    ("n_iter", "int", 1),
    ("steps", "int", 50),
    ("cfg_scale", "float", 7.0),
    ("width", "int", 512),
    ("height", "int", 512),
    ("restore_faces", "bool", None),
    ("tiling", "bool", None),
    ("do_not_save_samples", "bool", False),
    ("do_not_save_grid", "bool", False),
    ("eta", "float", None),
    ("denoising_strength", "float", None),
    ("s_min_uncond", "float", None),
    ("s_churn", "float", None),
    ("s_tmax", "float", None),
    ("s_tmin", "float", None),
    ("s_noise", "float", None),
    ("override_settings", "dict", None),
    ("override_settings_restore_afterwards", "bool", True),
    ("refiner_checkpoint", "str", None),
    ("refiner_switch_at", "float", None),
    ("disable_extra_networks", "bool", False),
    ("firstpass_image", "str", None),
    ("comments", "dict", None),
]

_API_TAIL: Spec = [
    ("force_task_id", "str", None),
    ("sampler_index", "str", "Euler"),
    ("script_name", "str", None),
    ("script_args", "list", []),
    ("send_images", "bool", True),
    ("save_images", "bool", False),
    ("alwayson_scripts", "dict", {}),
    ("infotext", "str", None),
]

TXT2IMG: Spec = [
    *_COMMON,
    ("enable_hr", "bool", False),
    ("firstphase_width", "int", 0),
    ("firstphase_height", "int", 0),
    ("hr_scale", "float", 2.0),
    ("hr_upscaler", "str", None),
    ("hr_second_pass_steps", "int", 0),
    ("hr_resize_x", "int", 0),
    ("hr_resize_y", "int", 0),
    ("hr_checkpoint_name", "str", None),
    ("hr_sampler_name", "str", None),
    ("hr_scheduler", "str", None),
    ("hr_prompt", "str", ""),
    ("hr_negative_prompt", "str", ""),
    *_API_TAIL,
]

_IMG2IMG_ONLY: Spec = [
    ("init_images", "list", None),
    ("resize_mode", "int", 0),
    ("image_cfg_scale", "float", None),
    ("mask", "str", None),
    ("mask_blur_x", "int", 4),
    ("mask_blur_y", "int", 4),
    ("mask_blur", "int", None),
    ("mask_round", "bool", True),
    ("inpainting_fill", "int", 0),
    ("inpaint_full_res", "bool", True),
    ("inpaint_full_res_padding", "int", 0),
    ("inpainting_mask_invert", "int", 0),
    ("initial_noise_multiplier", "float", None),
    ("latent_mask", "str", None),
]

IMG2IMG: Spec = [
    *[(n, t, 0.75 if n == "denoising_strength" else d) for n, t, d in _COMMON],
    *_IMG2IMG_ONLY,
    ("force_task_id", "str", None),
    ("sampler_index", "str", "Euler"),
    ("include_init_images", "bool", False),
    *_API_TAIL[2:],
]

PROGRESS_REQUEST: Spec = [
    ("id_task", "str", None),
    ("id_live_preview", "int", -1),
    ("live_preview", "bool", True),
]

DETECT_REQUEST: Spec = [
    ("controlnet_module", "str", "none"),
    ("controlnet_input_images", "list[str]", []),
    ("controlnet_processor_res", "int", -1),
    ("controlnet_threshold_a", "float", -1),
    ("controlnet_threshold_b", "float", -1),
    ("controlnet_masks", "list[str]", []),
    ("low_vram", "bool", False),
]

REQUIRED = object()  # a field without a default: missing is a 422 "field required"

PNG_INFO_REQUEST: Spec = [("image", "str", REQUIRED)]

_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


class FieldInvalid(Exception):
    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.type = type_


def coerce(value: Any, type_: str) -> Any:
    """Coerce one value like pydantic v1's validator for ``type_``; raises FieldInvalid."""
    if type_ == "int":
        if isinstance(value, int):
            return int(value)
        try:
            if isinstance(value, (str, bytes)):
                return int(value.strip() if isinstance(value, str) else value)
            if isinstance(value, float):
                return int(value)
        except (ValueError, OverflowError):
            pass
        raise FieldInvalid("value is not a valid integer", "type_error.integer")
    if type_ == "float":
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise FieldInvalid("value is not a valid float", "type_error.float")
    if type_ == "bool":
        if value is True or value is False:
            return value
        key = value.lower() if isinstance(value, str) else value
        if isinstance(key, (str, int, float)):
            if key in _BOOL_TRUE:
                return True
            if key in _BOOL_FALSE:
                return False
        raise FieldInvalid("value could not be parsed to a boolean", "type_error.bool")
    if type_ == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        raise FieldInvalid("str type expected", "type_error.str")
    if type_ in ("list", "list[str]"):
        if not isinstance(value, list):
            raise FieldInvalid("value is not a valid list", "type_error.list")
        return list(value)
    if type_ == "dict":
        if isinstance(value, dict):
            return value
        try:
            return dict(value)
        except (TypeError, ValueError):
            raise FieldInvalid("value is not a valid dict", "type_error.dict") from None
    return value


def parse_json_body(raw: bytes, content_type: str | None) -> Any:
    """FastAPI's body decoding: bad JSON is a 422 located at the failing character."""
    if content_type and not _is_json_type(content_type):
        return raw.decode("latin-1")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise validation_error(
            [
                {
                    "loc": ["body", exc.pos],
                    "msg": str(exc),
                    "type": "value_error.jsondecode",
                    "ctx": {
                        "msg": exc.msg,
                        "doc": exc.doc,
                        "pos": exc.pos,
                        "lineno": exc.lineno,
                        "colno": exc.colno,
                    },
                }
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise validation_error(
            [{"loc": ["body", 0], "msg": str(exc), "type": "value_error.jsondecode"}]
        ) from None


def _is_json_type(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    if not main.startswith("application/"):
        return False
    sub = main.split("/", 1)[1]
    return sub == "json" or sub.endswith("+json")


def validate_model(body: Any, spec: Spec, *, required: bool = True) -> dict[str, Any]:
    """Validate a JSON body against a request model; returns all fields, defaults applied."""
    if body is None:
        if required:
            raise validation_error(
                [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]
            )
        body = {}
    if not isinstance(body, dict):
        try:
            body = dict(body) if isinstance(body, list) else None
        except (TypeError, ValueError):
            body = None
        if body is None:
            raise validation_error(
                [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
            )
    out: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name, type_, default in spec:
        if name not in body:
            if default is REQUIRED:
                errors.append(
                    {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}
                )
                continue
            out[name] = default.copy() if isinstance(default, (list, dict)) else default
            continue
        value = body[name]
        if value is None:
            out[name] = None
            continue
        try:
            out[name] = coerce(value, type_)
        except FieldInvalid as exc:
            errors.append({"loc": ["body", name], "msg": exc.msg, "type": exc.type})
            continue
        if type_ == "list[str]":
            for i, item in enumerate(out[name]):
                try:
                    out[name][i] = coerce(item, "str")
                except FieldInvalid as exc:
                    errors.append({"loc": ["body", name, i], "msg": exc.msg, "type": exc.type})
    if errors:
        raise validation_error(errors)
    return out
