"""Saving, sharing and loading presets.

Who may see a preset: its owner always; anyone if it is public; anyone who presents its
share code if it is shared by code. Anything else is a 404 (not a 403), so a private
preset's existence is never revealed. A preset's params are checked with the generation
rules when saved, so a bad preset is refused then, not when a job runs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from rest_framework.exceptions import ValidationError

from core.errors import Conflict, NotFound
from genparams.controlnet import validate_controlnet_units
from genparams.params import validate_generation_params
from loras_app.rules import unusable_reason
from loras_app.search import suggest
from loras_app.selectors import unusable_loras
from presets_app.models import Preset
from sessions_app import services as sessions
from sessions_app.custom_settings import custom_settings_to_params

CONTENT_FIELDS = (
    "description",
    "params",
    "loras",
    "controlnet_units",
    "regional_config",
    "visibility",
)


# --- reading --------------------------------------------------------------------------
def _not_found(preset_ref: Any) -> NotFound:
    return NotFound(f"No preset {preset_ref!r} that you may see.", code="preset_not_found")


def own_preset(owner_id: str, preset_id: int) -> Preset:
    preset = Preset.objects.filter(owner_id=owner_id, pk=preset_id).first()
    if preset is None:
        raise _not_found(preset_id)
    return with_warnings([preset])[0]


def visible_preset(user_id: str, preset_id: int, share_code: str | None = None) -> Preset:
    """The preset if ``user_id`` owns it, it is public, or ``share_code`` is its code."""
    rule = Q(owner_id=user_id) | Q(visibility=Preset.Visibility.PUBLIC)
    if share_code:
        rule |= Q(share_code=share_code)
    preset = Preset.objects.filter(rule, pk=preset_id).first()
    if preset is None:
        raise _not_found(preset_id)
    return with_warnings([preset])[0]


def shared_preset(share_code: str) -> Preset:
    preset = Preset.objects.filter(share_code=share_code).first()
    if preset is None:
        raise NotFound(
            "No preset has this share code (or it was revoked).", code="preset_not_found"
        )
    return with_warnings([preset])[0]


def user_presets(owner_id: str) -> list[Preset]:
    return with_warnings(list(Preset.objects.filter(owner_id=owner_id)))


def browse_presets(
    *, public: bool = True, search: str = "", share_code: str = "", limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """A page of public presets, most used first (``search`` matches name or description),
    or the one preset a share code names. ``public`` is the README's flag, always true."""
    if share_code:
        presets = Preset.objects.filter(share_code=share_code)
    else:
        presets = Preset.objects.filter(visibility=Preset.Visibility.PUBLIC)
        if search:
            presets = presets.filter(Q(name__icontains=search) | Q(description__icontains=search))
    presets = presets.order_by("-usage_count", "name", "id")
    return {
        "count": presets.count(),
        "results": with_warnings(list(presets[offset : offset + limit])),
    }


def with_warnings(presets: list[Preset]) -> list[Preset]:
    """Set ``warnings`` on each preset: the LoRAs it names that cannot be used now.

    A preset naming a LoRA that left the catalog still loads; it says so instead. One query
    for the whole list.
    """
    unusable = unusable_loras({f for p in presets for f in p.loras})
    for preset in presets:
        preset.warnings = [
            f"LoRA {filename!r} {unusable[filename]}; it is skipped."
            for filename in preset.loras
            if filename in unusable
        ]
    return presets


# --- saving ---------------------------------------------------------------------------
def _clean_content(data: dict[str, Any], *, strict: set[str]) -> dict[str, Any]:
    """Check a preset's content; names and LoRAs only for the parts in ``strict`` (those the
    user sent now: a session snapshot's were checked when they entered the session)."""
    cleaned = dict(data)
    if "params" in data:
        catalog = None if "params" in strict else {}
        try:
            cleaned["params"] = validate_generation_params(data["params"], catalog=catalog)
        except ValidationError as exc:
            raise ValidationError({"params": exc.detail}) from None
    if "controlnet_units" in data:
        catalog = None if "controlnet_units" in strict else {}
        cleaned["controlnet_units"] = validate_controlnet_units(
            data["controlnet_units"], catalog=catalog
        )
    if "loras" in data:
        _check_loras(data["loras"], known="loras" in strict)
    return cleaned


def _check_loras(loras: dict[str, float], *, known: bool) -> None:
    if len(loras) > settings.HUB_MAX_ACTIVE_LORAS:
        raise ValidationError(
            {"loras": [f"At most {settings.HUB_MAX_ACTIVE_LORAS} LoRAs, as in a session."]}
        )
    if not known:
        return
    not_known = unusable_reason(known=False)
    absent = [f for f, why in unusable_loras(set(loras)).items() if why == not_known]
    errors = {}
    for filename in absent:
        hint = ", ".join(suggest(filename, limit=5))
        errors[filename] = [
            f"LoRA {filename!r} {not_known}.{' Did you mean: ' + hint if hint else ''}"
        ]
    if errors:
        raise ValidationError({"loras": errors})


def _snapshot(user_id: str) -> dict[str, Any]:
    state = sessions.session_state(user_id)
    return {
        "params": custom_settings_to_params(state["custom_settings"]),
        "loras": state["active_loras"],
        "controlnet_units": state["controlnet_configs"],
    }


def save_preset(
    owner_id: str,
    *,
    name: str,
    from_session: bool = False,
    overwrite: bool = False,
    **content: Any,
) -> tuple[Preset, bool]:
    """Create a preset (or replace the same-named one with ``overwrite``); (preset, created).

    ``from_session`` snapshots the owner's session; parts sent explicitly win over it.
    """
    strict = set(content)
    if from_session:
        content = {**_snapshot(owner_id), **content}
    return _save(owner_id, name, _clean_content(content, strict=strict), overwrite=overwrite)


def _save(
    owner_id: str, name: str, content: dict[str, Any], *, overwrite: bool
) -> tuple[Preset, bool]:
    with transaction.atomic():
        existing = (
            Preset.objects.select_for_update().filter(owner_id=owner_id, name__iexact=name).first()
        )
        if existing is not None and not overwrite:
            raise Conflict(
                f"You already have a preset named {existing.name!r} (id {existing.pk}). Choose "
                "another name, or send overwrite: true to replace it.",
                code="preset_exists",
                preset_id=existing.pk,
            )
        if existing is not None:
            defaults = {f: Preset._meta.get_field(f).get_default() for f in CONTENT_FIELDS}
            for field, value in {**defaults, "name": name, **content}.items():
                setattr(existing, field, value)
            existing.save()
            return with_warnings([existing])[0], False
        if Preset.objects.filter(owner_id=owner_id).count() >= settings.HUB_MAX_PRESETS_PER_USER:
            raise Conflict(
                f"At most {settings.HUB_MAX_PRESETS_PER_USER} presets per user; delete one first.",
                code="too_many_presets",
            )
        preset = _create(owner_id=owner_id, name=name, **content)
    return with_warnings([preset])[0], True


def _create(**fields: Any) -> Preset:
    """Insert, turning a same-name race lost on PostgreSQL into the usual 409."""
    try:
        with transaction.atomic():
            return Preset.objects.create(**fields)
    except IntegrityError:
        raise Conflict(
            f"You already have a preset named {fields['name']!r}.", code="preset_exists"
        ) from None


def update_preset(owner_id: str, preset_id: int, **changes: Any) -> Preset:
    """Change some fields of one's own preset; each field sent replaces the stored one."""
    changes = _clean_content(changes, strict=set(changes))
    with transaction.atomic():
        preset = Preset.objects.select_for_update().filter(owner_id=owner_id, pk=preset_id).first()
        if preset is None:
            raise _not_found(preset_id)
        name = changes.get("name")
        if name and (
            Preset.objects.filter(owner_id=owner_id, name__iexact=name)
            .exclude(pk=preset.pk)
            .exists()
        ):
            raise Conflict(f"You already have a preset named {name!r}.", code="preset_exists")
        for field, value in changes.items():
            setattr(preset, field, value)
        preset.save()
    return with_warnings([preset])[0]


def delete_preset(owner_id: str, preset_id: int) -> None:
    deleted, _ = Preset.objects.filter(owner_id=owner_id, pk=preset_id).delete()
    if not deleted:
        raise _not_found(preset_id)


def _count_use(preset: Preset) -> None:
    Preset.objects.filter(pk=preset.pk).update(usage_count=F("usage_count") + 1)
    preset.usage_count += 1


def copy_preset(
    user_id: str, *, preset_id: int | None = None, share_code: str | None = None, name: str = ""
) -> Preset:
    """Copy a public, code-shared (or one's own) preset into ``user_id``'s presets, private.

    Without a name the copy keeps the original's, made unique ("(copy)", "(copy 2)"...).
    """
    source = shared_preset(share_code) if share_code else visible_preset(user_id, preset_id)
    # The source was checked when saved; a LoRA that has left the catalog since only warns.
    content = {f: getattr(source, f) for f in CONTENT_FIELDS if f != "visibility"}
    content["copied_from"] = source
    name = name or _free_name(user_id, source.name)
    preset, _ = _save(user_id, name, content, overwrite=False)
    _count_use(source)
    return preset


def _free_name(owner_id: str, name: str) -> str:
    taken = {
        n.lower() for n in Preset.objects.filter(owner_id=owner_id).values_list("name", flat=True)
    }
    candidate, n = name, 1
    while candidate.lower() in taken:
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[: 100 - len(suffix)] + suffix
        n += 1
    return candidate


def apply_preset(user_id: str, preset_id: int, share_code: str | None = None) -> dict[str, Any]:
    """Load a preset into ``user_id``'s session: its LoRAs and ControlNet units replace the
    session's, its params are merged into the session's custom settings."""
    preset = visible_preset(user_id, preset_id, share_code)
    unusable = unusable_loras(set(preset.loras))
    loras = {f: w for f, w in preset.loras.items() if f not in unusable}
    warnings = list(preset.warnings)
    if preset.regional_config:
        warnings.append(
            "regional_config is not part of a session; send preset_id with "
            "POST /generate/regional to use it."
        )
    state = sessions.load_workflow(user_id, loras, preset.controlnet_units, preset.params)
    _count_use(preset)
    return {"preset_id": preset.pk, "session": state, "warnings": warnings}


def get_preset_for_generation(user_id: str, preset_id: int | str) -> Preset:
    """The preset a generation request names; 404 if the user may not see it.

    ``preset_id`` is a preset's id (the user's own or a public one) or a share code. Not
    counted as used here: the caller calls ``record_preset_use`` once the job exists, so a
    refused request or an idempotent retry counts nothing.
    """
    if isinstance(preset_id, int) or str(preset_id).isdigit():
        return visible_preset(user_id, int(preset_id))
    return shared_preset(str(preset_id))


def record_preset_use(preset_id: int | str) -> None:
    """Count one use of a preset (by id or share code) by a generation."""
    if isinstance(preset_id, int) or str(preset_id).isdigit():
        Preset.objects.filter(pk=int(preset_id)).update(usage_count=F("usage_count") + 1)
    else:
        Preset.objects.filter(share_code=preset_id).update(usage_count=F("usage_count") + 1)
