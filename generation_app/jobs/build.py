"""From a validated request to an unsaved job: the catalog checks, the payload builder
with the user's session and preset, and what the job needs of a backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from core.errors import ApiError
from generation_app.jobs.context import GenerationContext
from generation_app.jobs.payloads import BuildInputs, LoraRef, build_payload, prompt_lora_names
from generation_app.models import Job
from genparams.params import output_pixels
from loras_app.rules import unusable_reason
from loras_app.search import suggest
from loras_app.selectors import catalog_is_empty, loras_by_name
from sessions_app.custom_settings import custom_settings_to_params


@dataclass
class JobRequest:
    """A generation request after validation, ready to become a job."""

    kind: str
    user_id: str
    params: dict[str, Any]  # validated generation parameters and kind-specific A1111 fields
    received: dict[str, Any]  # the request as received, images elided, for the record
    context: GenerationContext
    preset_id: int | None = None
    scripts: dict[str, Any] = field(default_factory=dict)  # alwayson_scripts to add
    warnings: list[str] = field(default_factory=list)


# --- the pieces a payload is merged from -----------------------------------------------
def _catalog_loras(filenames: set[str], prompt_names: set[str]) -> dict[str, LoraRef]:
    return {
        row.filename: LoraRef(row.filename, row.prompt_name, row.enabled, row.missing)
        for row in loras_by_name(filenames, prompt_names)
    }


def _refuse_unknown_loras(requested: dict[str, float], prompt: str, catalog: dict[str, LoraRef]):
    """A1111 ignores a LoRA it does not know; the hub says so before queueing instead."""
    unknown = [f for f in requested if f not in catalog]
    not_known = unusable_reason(known=False)
    if unknown:
        raise ApiError(
            f"LoRA(s) {', '.join(unknown)} {not_known}. Use a filename from GET /loras.",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in unknown},
        )
    known_names = {ref.prompt_name for ref in catalog.values()}
    in_prompt = prompt_lora_names(prompt) - known_names
    if in_prompt and not catalog_is_empty():
        raise ApiError(
            f"The prompt names LoRA(s) {', '.join(sorted(in_prompt))}, which {not_known}: "
            "A1111 would silently ignore them. Check the names with GET /loras (or POST "
            "/loras/scan if they are new).",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in sorted(in_prompt)},
        )


@dataclass
class PreparedPayload:
    payload: dict[str, Any]
    warnings: list[str]
    loras: dict[str, float]  # the LoRAs asked for, by the name written in the tag
    total_steps: int


def prepare_payload(job_request: JobRequest, task_id: str) -> PreparedPayload:
    context = job_request.context
    preset = context.preset
    preset_params = dict(preset.params) if preset else {}
    preset_loras = dict(preset.loras) if preset else {}
    params = job_request.params
    requested_loras = dict(params.get("loras") or {})
    prompt = params.get("prompt") or preset_params.get("prompt") or ""
    session_loras = context.session["active_loras"]
    filenames = set(session_loras) | set(preset_loras) | set(requested_loras)
    catalog_loras = _catalog_loras(filenames, prompt_lora_names(prompt))
    _refuse_unknown_loras(requested_loras, prompt, catalog_loras)

    built = build_payload(
        BuildInputs(
            kind=job_request.kind,
            request=params,
            defaults=context.defaults,
            custom_settings=custom_settings_to_params(context.session["custom_settings"]),
            preset_params=preset_params,
            session_loras=session_loras,
            preset_loras=preset_loras,
            catalog_loras=catalog_loras,
            checkpoint_titles=context.checkpoint_titles,
            task_id=task_id,
        )
    )
    images = int(built.payload.get("batch_size") or 1) * int(built.payload.get("n_iter") or 1)
    if images > settings.HUB_MAX_IMAGES:
        raise ApiError(
            f"With your saved settings and preset this request makes {images} images; at most "
            f"{settings.HUB_MAX_IMAGES} per request. Lower batch_size or batch_count.",
            code="too_many_images",
        )
    made = output_pixels({**built.payload, "batch_count": built.payload.get("n_iter")})
    if made > settings.HUB_MAX_OUTPUT_PIXELS:
        raise ApiError(
            f"With your saved settings and preset this request makes {made:,} pixels; at "
            f"most {settings.HUB_MAX_OUTPUT_PIXELS:,}. Lower the size, hr_scale or images.",
            code="too_many_pixels",
        )
    if job_request.scripts:
        built.payload["alwayson_scripts"] = {
            **(built.payload.get("alwayson_scripts") or {}),
            **job_request.scripts,
        }
    return PreparedPayload(
        built.payload, job_request.warnings + built.warnings, built.loras, built.total_steps
    )


def needed_capabilities(payload: dict[str, Any]) -> list[str]:
    """Extensions a job needs whatever its kind (the kind's own need is in jobs.kinds)."""
    scripts = payload.get("alwayson_scripts") or {}
    return ["adetailer"] if "ADetailer" in scripts else []


def build_job(job_request: JobRequest, **fields: Any) -> Job:
    """An unsaved job with its exact A1111 payload (refusing what A1111 would mishandle).
    Who sent it, and how to replay it, the admission service adds."""
    job = Job(
        user_id=job_request.user_id,
        kind=job_request.kind,
        request=job_request.received,
        preset_id=job_request.preset_id,
        **fields,
    )
    prepared = prepare_payload(job_request, job.task_id)
    job.payload = prepared.payload
    job.warnings = prepared.warnings
    job.total_steps = prepared.total_steps
    job.checkpoint = (prepared.payload.get("override_settings") or {}).get(
        "sd_model_checkpoint", ""
    )
    job.img2img = "init_images" in prepared.payload
    job.needs = needed_capabilities(prepared.payload)
    job.info = {"requested_loras": prepared.loras}
    return job
