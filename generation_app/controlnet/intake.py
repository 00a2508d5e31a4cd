"""A ControlNet request as a job: units validated against the catalog, merged over saved
configs, each with its image."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from generation_app.admission.intake import (
    add_init_images,
    checked_init_images,
    elide_images,
    job_params,
)
from generation_app.controlnet import units as cn
from generation_app.jobs.build import JobRequest
from generation_app.jobs.context import GenerationContext
from generation_app.jobs.kinds import KindSpec, register_kind
from generation_app.models import Job
from genparams.controlnet import check_unit_count, validate_controlnet_units

register_kind(Job.Kind.CONTROLNET, KindSpec(capability=("controlnet", "the ControlNet extension")))


# --- ControlNet and Regional Prompter ---------------------------------------------------
def controlnet(data: dict[str, Any], context: GenerationContext) -> JobRequest:
    """Units validated against the catalog, merged over saved configs, each with its image."""
    catalog = context.catalog
    extension = cn.require_controlnet(catalog) if catalog is not None else {}
    units = validate_controlnet_units(
        data.get("controlnet_units") or [], catalog=catalog or {}, allow_images=True
    )
    units = cn.merge_defaults(units, context.saved_controlnet_units)
    if not units:
        raise serializers.ValidationError(
            {
                "controlnet_units": [
                    "Give at least one unit (or save controlnet_configs in the session)."
                ]
            }
        )
    check_unit_count(len(units), extension)
    init = checked_init_images(data.get("init_images") or [])
    units, images = cn.attach_images(units, data.get("image"), data["unit_images"], bool(init))
    units = [cn.complete_unit(unit, i, extension) for i, unit in enumerate(units)]

    params = job_params(data, {"controlnet_units", "image", "unit_images", "init_images"})
    if catalog is not None:
        checkpoint = cn.effective_checkpoint(Job.Kind.CONTROLNET, params, context)
        cn.check_model_families(units, checkpoint, catalog)
    add_init_images(params, images, init)
    received = {
        k: v for k, v in data.items() if k not in ("unit_images", "image", "controlnet_units")
    }
    received["controlnet_units"] = [
        {k: v for k, v in unit.items() if k not in ("image", "mask")} for unit in units
    ]
    return JobRequest(
        kind=Job.Kind.CONTROLNET,
        user_id=data["user_id"],
        params=params,
        received=elide_images(received, images),
        context=context,
        preset_id=data.get("preset_id"),
        scripts={cn.SCRIPT_KEY: {"args": units}},
    )
