"""Policy: what a community, a channel and an API key allow. Pure functions, no database.

A policy is a dict. Levels resolve global < community < channel < key: caps take the
tightest value any level sets, blocked names and banned words add up, and everything else
(allowed names, features, nsfw, budget) is the most specific level's. Every resolved
value remembers the level it came from, so a refusal can say who set the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

CAPS = ("max_steps", "max_width", "max_height", "max_images", "max_pixels", "max_active_jobs")
NAME_LISTS = ("allowed_checkpoints", "blocked_checkpoints", "allowed_loras", "blocked_loras")
FEATURES = ("txt2img", "img2img", "controlnet", "regional", "upscale", "sweeps", "scripts")
NSFW_ACTIONS = ("block", "blur", "spoiler", "allow")
WHEN_SPENT = ("refuse", "downgrade")
BUDGET_FIELDS = ("per_user", "per_community", "period_hours", "when_spent")
FIELDS = (*CAPS, *NAME_LISTS, "features", "banned_words", "nsfw", "budget")
LEVELS = ("global", "community", "channel", "key")
MAX_LIST = 1000
MAX_WORD = 100


class PolicyError(ValueError):
    """A policy that is malformed or contradicts itself; ``errors`` maps field -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def clean_policy(raw: Any) -> dict[str, Any]:
    """A policy checked field by field (unknown fields, types, ranges, contradictions)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyError({"policy": "must be a JSON object."})
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            errors[key] = f"is not a policy field; the fields are {', '.join(FIELDS)}."
        elif value is None:
            continue
        elif key in CAPS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors[key] = "must be a whole number of at least 1."
            else:
                cleaned[key] = value
        elif key in NAME_LISTS or key == "banned_words":
            problem = _list_problem(value)
            if problem:
                errors[key] = problem
            else:
                cleaned[key] = sorted({v.strip() for v in value if v.strip()})
        elif key == "features":
            if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
                errors[key] = 'must be an object of true/false, e.g. {"controlnet": false}.'
            elif set(value) - set(FEATURES):
                unknown = ", ".join(sorted(set(value) - set(FEATURES)))
                errors[key] = (
                    f"unknown feature(s) {unknown}; the features are {', '.join(FEATURES)}."
                )
            else:
                cleaned[key] = dict(value)
        elif key == "nsfw":
            if value not in NSFW_ACTIONS:
                errors[key] = f"must be one of {', '.join(NSFW_ACTIONS)}."
            else:
                cleaned[key] = value
        elif key == "budget":
            try:
                cleaned[key] = _clean_budget(value)
            except PolicyError as exc:
                errors.update({f"budget.{k}": v for k, v in exc.errors.items()})
    for kind in ("checkpoints", "loras"):
        both = set(cleaned.get(f"allowed_{kind}", [])) & set(cleaned.get(f"blocked_{kind}", []))
        if both:
            errors[f"allowed_{kind}"] = (
                f"{', '.join(sorted(both))} is both allowed and blocked; keep it in one list."
            )
    if errors:
        raise PolicyError(errors)
    return cleaned


def _list_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of strings."
    if len(value) > MAX_LIST:
        return f"has {len(value)} entries; at most {MAX_LIST}."
    if any(len(v) > MAX_WORD for v in value):
        return f"has an entry longer than {MAX_WORD} characters."
    return None


def _clean_budget(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError({"budget": "must be an object."})
    errors, cleaned = {}, {}
    for key, item in value.items():
        if key not in BUDGET_FIELDS:
            errors[key] = f"is not a budget field; the fields are {', '.join(BUDGET_FIELDS)}."
        elif key == "when_spent":
            if item not in WHEN_SPENT:
                errors[key] = f"must be one of {', '.join(WHEN_SPENT)}."
            else:
                cleaned[key] = item
        elif isinstance(item, bool) or not isinstance(item, int | float) or not item > 0:
            errors[key] = "must be a number above 0."
        elif item > 1e12:
            errors[key] = "is too large."
        else:
            cleaned[key] = item
    if errors:
        raise PolicyError(errors)
    return cleaned


@dataclass
class Resolved:
    """A policy resolved over its levels: ``values`` and, for each, the level that set it."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def source(self, key: str) -> str:
        return self.sources.get(key, "global")

    def feature_allowed(self, name: str) -> bool:
        return self.values.get("features", {}).get(name, True)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.values, "sources": self.sources}


def resolve(layers: list[tuple[str, dict[str, Any]]]) -> Resolved:
    """Resolve ``[(level, policy), ...]`` given least specific first."""
    out = Resolved()
    for level, policy in layers:
        for key, value in (policy or {}).items():
            current = out.values.get(key)
            if key in CAPS:
                if current is None or value < current:
                    out.values[key], out.sources[key] = value, level
            elif key in ("blocked_checkpoints", "blocked_loras", "banned_words"):
                out.values[key] = sorted(set(current or []) | set(value))
                out.sources[key] = level if current is None else f"{out.sources[key]}+{level}"
            elif key == "features":
                merged = {**(current or {}), **value}
                out.values[key], out.sources[key] = merged, level
            elif key == "budget":
                out.values[key], out.sources[key] = {**(current or {}), **value}, level
            else:
                out.values[key], out.sources[key] = value, level
    return out


def nsfw_action(resolved: Resolved, channel_nsfw: bool) -> str:
    """What to do with an image the detector flags. Outside an age-restricted channel the
    default is ``block`` and ``allow`` counts as ``block``: Discord keeps adult content in
    age-restricted channels."""
    action = resolved.get("nsfw") or ("allow" if channel_nsfw else "block")
    if action == "allow" and not channel_nsfw:
        return "block"
    return action


def validate_policy(value: Any) -> None:
    """A model-field validator: a ValidationError naming each bad field."""
    try:
        clean_policy(value)
    except PolicyError as exc:
        raise ValidationError([f"{k}: {v}" for k, v in exc.errors.items()]) from None
