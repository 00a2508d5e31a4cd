"""What a completed job tells its user beyond its images: the LoRAs A1111 did not apply,
the ControlNet units that returned no map. Read from the job and its result, no I/O."""

from __future__ import annotations

from generation_app.jobs.payloads import loras_not_applied, unparseable_lora_tags
from generation_app.models import Job


def completion_warnings(job: Job, maps: int) -> list[str]:
    """The warnings a job that completed with ``maps`` ControlNet detected maps gets."""
    warnings = []
    # The names the hub wrote in the tags, compared the way A1111 keys "Lora hashes".
    not_applied = loras_not_applied(list(job.info.get("requested_loras") or {}), job.info)
    if not_applied:
        bad_tags = unparseable_lora_tags(job.payload.get("prompt") or "")
        reason = (
            f": the prompt's {', '.join(bad_tags)} has a weight A1111 cannot parse, so it "
            "applied no LoRA at all. Write weights as plain numbers."
            if bad_tags
            else ": the backend may not have the file. Rescan its LoRAs (POST /loras/scan) or "
            "check its --lora-dir."
        )
        warnings.append("A1111 did not apply LoRA(s) " + ", ".join(not_applied) + reason)
    warning = controlnet_maps_warning(job, maps)
    if warning:
        warnings.append(warning)
    return warnings


def controlnet_maps_warning(job: Job, maps: int) -> str | None:
    """A ControlNet job without the detected maps its units should have returned.

    The extension raises inside ``Script.process`` on a model for another SD version, a
    model it cannot load, or a unit without an image, and A1111's ``ScriptRunner`` swallows
    it: the job answers 200 with *no* unit applied and no maps, while the infotext still
    lists "ControlNet N". The missing maps are the only trace a client can see.
    """
    if job.kind != Job.Kind.CONTROLNET:
        return None
    args = ((job.payload.get("alwayson_scripts") or {}).get("controlnet") or {}).get("args")
    expected = [
        index
        for index, unit in enumerate(args or [])
        if isinstance(unit, dict)
        and unit.get("enabled", True)
        and unit.get("save_detected_map", True) is not False
    ]
    if not expected or maps >= len(expected):
        return None
    units = ", ".join(str(i) for i in expected)
    return (
        f"ControlNet returned {maps} detected map(s) for {len(expected)} unit(s) ({units}) "
        "that should each return one: the units were probably NOT applied. The ControlNet "
        "extension swallows its runtime errors and A1111 still answers 200: an SD-version "
        "mismatch between the ControlNet model and the checkpoint (e.g. an SD1.5 model on an "
        "SDXL checkpoint), a model the backend cannot load, or a unit without an input image. "
        "Check the unit's model against the checkpoint (GET /controlnet/models, GET /models) "
        "and the backend's console; a backend with control_net_no_detectmap on never "
        "returns maps."
    )
