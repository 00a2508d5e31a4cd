"""A regional request as a job: the prompt written with the extension's separators and its
script arguments."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from core.auth import check_user_access
from core.errors import Conflict
from generation_app.admission.intake import job_params
from generation_app.jobs.build import JobRequest
from generation_app.jobs.context import GenerationContext
from generation_app.jobs.kinds import KindSpec, register_kind
from generation_app.models import Job
from generation_app.regional import plan as rp
from presets_app.services import get_preset_for_generation

register_kind(
    Job.Kind.REGIONAL,
    KindSpec(capability=("regional_prompter", "the Regional Prompter extension")),
)


def with_preset_regional_config(data: dict[str, Any], request: Request) -> dict[str, Any]:
    """A request without ``regional_config`` that names a preset takes the preset's."""
    if data.get("regional_config") or not data.get("preset_id") or not data.get("user_id"):
        return data
    check_user_access(request, str(data["user_id"]))
    preset = get_preset_for_generation(str(data["user_id"]), data["preset_id"])
    if not preset.regional_config:
        return data
    return type(data)(data, regional_config=preset.regional_config)  # JSON stays marked


def regional(data: dict[str, Any], context: GenerationContext) -> JobRequest:
    """The prompt written with the extension's separators, and its 20 script args."""
    catalog = context.catalog
    if catalog is not None and not catalog.get("regional_prompter"):
        raise Conflict(
            "No backend has the Regional Prompter extension "
            "(hako-mikan/sd-webui-regional-prompter); A1111 would ignore the regions. "
            "Install it in A1111 and restart it.",
            code="regional_prompter_unavailable",
        )
    config = data["regional_config"]
    spec = rp.RegionalSpec(
        regions=config["regions"],
        prompt=data.get("prompt") or "",
        layout=config.get("layout"),
        ratios=config.get("ratios"),
        direction={"columns": rp.COLUMNS, "rows": rp.ROWS}.get(config.get("direction", "")),
        common_prompt=config.get("common_prompt") or "",
        base_prompt=config.get("base_prompt") or "",
        base_ratio=config.get("base_ratio", 0.2),
        negative_prompt=data.get("negative_prompt") or "",
        calc_mode=config.get("calc_mode") or "Attention",
    )
    try:
        plan = rp.plan(spec)
    except rp.RegionalError as exc:
        raise serializers.ValidationError({"regional_config": {exc.field: [exc.message]}}) from None
    params = job_params(data, {"regional_config"})
    params["prompt"] = plan.prompt
    if plan.negative_prompt:
        params["negative_prompt"] = plan.negative_prompt
    received = dict(data)
    received["regional_config"] = {**config, "regions": [asdict(r) for r in config["regions"]]}
    return JobRequest(
        kind=Job.Kind.REGIONAL,
        user_id=data["user_id"],
        params=params,
        received=received,
        context=context,
        preset_id=data.get("preset_id"),
        scripts={rp.SCRIPT_TITLE: {"args": plan.args}},
    )
