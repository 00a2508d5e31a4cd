"""Any other installed script or extension: ``script_name``/``script_args`` and
``alwayson_scripts`` passed through to A1111 as sent, for service keys only (a script can
do anything the A1111 box can), checked against what the backends list.

A1111 (``modules/api/api.py`` ``get_script`` / ``init_script_args``) matches names in lower
case and answers 422 "Script 'x' not found" for an unknown one; a script's arguments go
into its slice of the run's argument list, so more than it declares would spill into the
next script's. The hub refuses both before queueing, with the valid names.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from a1111.client import A1111Error
from backends.registry import client_for, enabled_backends
from core.auth import Principal

# The hub drives these itself, from its own fields: sent raw they would fight its payload.
MANAGED = {
    "controlnet": "controlnet_units",
    "regional prompter": "regional_config",
    "adetailer": "adetailer",
}
MAX_ARGS = 200


class ScriptFieldsMixin(serializers.Serializer):
    script_name = serializers.CharField(
        required=False, max_length=200, help_text="An installed script (service keys only)."
    )
    script_args = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=MAX_ARGS
    )
    alwayson_scripts = serializers.DictField(
        child=serializers.DictField(),
        required=False,
        help_text='{"<script name>": {"args": [...]}} passed to A1111 (service keys only).',
    )


SCRIPT_FIELDS = ("script_name", "script_args", "alwayson_scripts")


def uses_scripts(data: dict[str, Any]) -> bool:
    return any(data.get(name) for name in SCRIPT_FIELDS)


def check_scripts(principal: Any, data: dict[str, Any], img2img: bool, allowed: bool = True):
    """403 for a user key; 400 for a name no backend has, a script the hub drives itself,
    more arguments than the script declares, or a kind of job that runs no scripts."""
    if not uses_scripts(data):
        return
    if not (isinstance(principal, Principal) and principal.is_service):
        raise PermissionDenied(
            "script_name, script_args and alwayson_scripts run arbitrary A1111 scripts: "
            "service keys only."
        )
    if not allowed:
        raise serializers.ValidationError(
            {
                name: ["This kind of job runs no A1111 scripts: leave it out."]
                for name in SCRIPT_FIELDS
                if data.get(name)
            }
        )
    info = script_info(img2img)
    if info is None:
        return  # no backend answered: A1111 will say what is wrong, as for other names
    errors: dict[str, list[str]] = {}
    if data.get("script_args") and not data.get("script_name"):
        errors["script_args"] = ["Name the script they are for in script_name."]
    name = (data.get("script_name") or "").lower()
    if name:
        errors.update(_check("script_name", name, data.get("script_args") or [], info, False))
    for key, value in (data.get("alwayson_scripts") or {}).items():
        args = value.get("args") or []
        if not isinstance(args, list):
            errors[f"alwayson_scripts.{key}"] = ['Send {"args": [...]}.']
            continue
        errors.update(_check(f"alwayson_scripts.{key}", key.lower(), args, info, True))
    if errors:
        raise serializers.ValidationError(errors)


def _check(field: str, name: str, args: list, info: dict, alwayson: bool) -> dict[str, list]:
    if name in MANAGED:
        return {field: [f"The hub drives {name!r} itself: use its field {MANAGED[name]!r}."]}
    known = {n: d for n, d in info.items() if d["is_alwayson"] == alwayson}
    if name not in known:
        kind = "always-on scripts" if alwayson else "scripts"
        valid = ", ".join(sorted(n for n in known if n not in MANAGED))
        return {field: [f"No backend has the {kind} {name!r}. Valid: {valid}."]}
    if len(args) > known[name]["arg_count"]:
        return {
            field: [
                f"{len(args)} arguments; {name!r} declares {known[name]['arg_count']} "
                "(/sdapi/v1/script-info)."
            ]
        }
    return {}


def script_info(img2img: bool) -> dict[str, dict[str, Any]] | None:
    """name -> {is_alwayson, arg_count} for the route, from the first backend that answers
    (cached like the model catalog)."""
    key = f"generation:script-info:{'img2img' if img2img else 'txt2img'}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    for backend in enabled_backends():
        client = client_for(backend)
        try:
            listed = client.script_info()
        except A1111Error:
            continue
        finally:
            client.close()
        info = {
            s["name"].lower(): {"is_alwayson": bool(s["is_alwayson"]), "arg_count": len(s["args"])}
            for s in listed
            if bool(s.get("is_img2img")) == img2img
        }
        cache.set(key, info, settings.MODELS_CACHE_SECONDS)
        return info
    return None
