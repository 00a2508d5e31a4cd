"""Reading and changing a user's session, safely when several clients change it at once.

Every write runs in one transaction that first locks the session row (``select_for_update``
on PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers), so a Discord
command and a phone tap changing the same session both land. Active LoRAs are rows, unique
per (session, filename), so a LoRA can never be listed twice. Catalog look-ups that may call
A1111 happen before the transaction: no lock is held across an HTTP call.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from core.errors import Conflict, NotFound
from genparams.controlnet import validate_controlnet_units
from loras_app.selectors import usable_lora
from sessions_app.custom_settings import (
    check_custom_settings_keys,
    custom_setting_field,
    validate_custom_settings,
)
from sessions_app.models import SessionLora, UserSession


def session_state(user_id: str) -> dict[str, Any]:
    """The README's "Session Structure"; a user with no session gets an empty one."""
    session = UserSession.objects.filter(user_id=user_id).prefetch_related("loras").first()
    if session is None:
        return {
            "user_id": user_id,
            "active_loras": {},
            "controlnet_configs": [],
            "custom_settings": {},
            "last_updated": None,
        }
    return {
        "user_id": user_id,
        "active_loras": {lora.filename: lora.weight for lora in session.loras.all()},
        "controlnet_configs": session.controlnet_configs,
        "custom_settings": session.custom_settings,
        "last_updated": session.updated_at,
    }


def _locked_session(user_id: str) -> UserSession:
    """The user's session row, created if needed and locked until the transaction ends.

    get_or_create survives two first writes racing: the loser's INSERT fails on the unique
    user_id inside a savepoint, and it reads the winner's row instead.
    """
    session, _ = UserSession.objects.get_or_create(user_id=user_id)
    return UserSession.objects.select_for_update().get(pk=session.pk)


def add_lora(user_id: str, filename: str, weight: float | None = None) -> dict[str, Any]:
    """Add a LoRA to the session, or change its weight if it is already active.

    Without a weight, the catalog's preferred weight is used.
    """
    lora = usable_lora(filename)
    if weight is None:
        weight = min(max(lora.preferred_weight, settings.LORA_WEIGHT_MIN), settings.LORA_WEIGHT_MAX)
    with transaction.atomic():
        session = _locked_session(user_id)
        updated = session.loras.filter(filename=lora.filename).update(weight=weight)
        if not updated:
            active = list(session.loras.values_list("filename", flat=True))
            if len(active) >= settings.HUB_MAX_ACTIVE_LORAS:
                raise Conflict(
                    f"A session holds at most {settings.HUB_MAX_ACTIVE_LORAS} active LoRAs; "
                    f"remove one first (DELETE /sessions/{user_id}/loras/<filename>).",
                    code="too_many_loras",
                    limit=settings.HUB_MAX_ACTIVE_LORAS,
                    active_loras=active,
                )
            SessionLora.objects.create(session=session, filename=lora.filename, weight=weight)
        session.save(update_fields=["updated_at"])
    return session_state(user_id)


def remove_lora(user_id: str, filename: str) -> dict[str, Any]:
    """Remove one active LoRA; 404 (listing the active ones) if it is not active."""
    with transaction.atomic():
        session = UserSession.objects.select_for_update().filter(user_id=user_id).first()
        deleted = 0
        if session is not None:
            deleted, _ = session.loras.filter(filename=filename).delete()
        if not deleted:
            active = list(session.loras.values_list("filename", flat=True)) if session else []
            raise NotFound(
                f"LoRA {filename!r} is not active in {user_id!r}'s session.",
                code="lora_not_active",
                active_loras=active,
            )
        session.save(update_fields=["updated_at"])
    return session_state(user_id)


def clear_loras(user_id: str) -> dict[str, Any]:
    with transaction.atomic():
        session = UserSession.objects.select_for_update().filter(user_id=user_id).first()
        if session is not None:
            session.loras.all().delete()
            session.save(update_fields=["updated_at"])
    return session_state(user_id)


def set_controlnet(user_id: str, units: list[dict]) -> dict[str, Any]:
    """Replace the session's ControlNet unit configs (an empty list clears them)."""
    cleaned = validate_controlnet_units(units, field="controlnet_configs")
    with transaction.atomic():
        session = _locked_session(user_id)
        session.controlnet_configs = cleaned
        session.save(update_fields=["controlnet_configs", "updated_at"])
    return session_state(user_id)


def update_settings(user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into custom_settings; a null value removes that setting.

    Setting a key replaces any other key naming the same field (``preferred_sampler`` and
    ``sampler_name``), so a session never holds two answers to one question. Names are checked
    only for the values sent: one that was valid when saved keeps the session usable.
    """
    check_custom_settings_keys(changes)
    values = validate_custom_settings({k: v for k, v in changes.items() if v is not None})
    with transaction.atomic():
        session = _locked_session(user_id)
        merged = _merge_settings(session.custom_settings, changes.keys(), values)
        session.custom_settings = validate_custom_settings(merged, catalog={})
        session.save(update_fields=["custom_settings", "updated_at"])
    return session_state(user_id)


def _merge_settings(current: dict, touched, values: dict) -> dict:
    fields = {custom_setting_field(key) for key in touched}
    merged = {k: v for k, v in current.items() if custom_setting_field(k) not in fields}
    merged.update(values)
    return merged


def reset_session(user_id: str) -> None:
    """Forget the whole session (LoRAs, ControlNet configs, settings)."""
    UserSession.objects.filter(user_id=user_id).delete()


def load_workflow(
    user_id: str, loras: dict[str, float], units: list[dict], params: dict[str, Any]
) -> dict[str, Any]:
    """Put a saved workflow into the session: its LoRAs and units replace the session's,
    its params are merged into custom_settings (the caller has validated all of it)."""
    with transaction.atomic():
        session = _locked_session(user_id)
        session.loras.all().delete()
        SessionLora.objects.bulk_create(
            SessionLora(session=session, filename=filename, weight=weight)
            for filename, weight in loras.items()
        )
        session.controlnet_configs = units
        session.custom_settings = _merge_settings(session.custom_settings, params.keys(), params)
        session.save(update_fields=["controlnet_configs", "custom_settings", "updated_at"])
    return session_state(user_id)
