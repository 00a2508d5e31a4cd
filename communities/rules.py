"""The policy applied to what a request asks for: caps, models, LoRAs, features, words.

Pure: the caller describes the request as an :class:`Ask` (what A1111 will be sent, after
every default and the session are merged), so a rule cannot be dodged by a saved setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from communities.screening import banned_words_in
from core.errors import ApiError
from core.policy import Resolved

WHERE = {"global": "this hub", "community": "this community", "channel": "this channel",
         "key": "this API key"}  # fmt: skip


@dataclass
class Ask:
    """What one job asks for."""

    kind: str
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 0
    width: int = 0
    height: int = 0
    images: int = 1
    pixels: int = 0  # output pixels, hires and batch included
    checkpoint: str = ""
    loras: list[str] = field(default_factory=list)
    features: set[str] = field(default_factory=set)
    hires_pixels: int = 0  # the hires pass's size (0: none)
    hires_steps: int = 0
    controlnet_units: int = 0


class PolicyRefusal(ApiError):
    """A request the policy refuses: names the rule, the level that set it, how to comply."""

    def __init__(self, rule: str, level: str, detail: str, status_code: int = 403):
        super().__init__(
            detail, code="policy_violation", status_code=status_code, rule=rule, level=level
        )
        self.rule, self.level = rule, level


def _where(policy: Resolved, key: str) -> tuple[str, str]:
    level = policy.source(key).split("+")[-1]
    return level, WHERE.get(level, level)


CAP_FIELDS = (
    ("max_steps", "steps", "steps"),
    ("max_width", "width", "pixels wide"),
    ("max_height", "height", "pixels high"),
    ("max_images", "images", "images per request"),
    ("max_pixels", "pixels", "output pixels (size x hires x images)"),
)


def check(policy: Resolved, ask: Ask, lora_labels: Callable[[list[str]], dict[str, set[str]]]):
    """Raise :class:`PolicyRefusal` for the first rule ``ask`` breaks. ``lora_labels`` maps
    each LoRA to the names a policy may use for it (``tag:nsfw`` for its catalog tags)."""
    for rule, attr, unit in CAP_FIELDS:
        limit, value = policy.get(rule), getattr(ask, attr)
        if limit is not None and value > limit:
            level, where = _where(policy, rule)
            raise PolicyRefusal(
                rule, level, f"{where.capitalize()} allows at most {limit:,} {unit}; this "
                f"request asks for {value:,}. Lower {attr}.", status_code=400
            )  # fmt: skip
    for feature in sorted(ask.features):
        if not policy.feature_allowed(feature):
            level, where = _where(policy, "features")
            raise PolicyRefusal(
                f"features.{feature}", level, f"{where.capitalize()} does not allow {feature}."
            )
    _check_checkpoint(policy, ask)
    _check_loras(policy, ask, lora_labels)
    words = banned_words_in(f"{ask.prompt}\n{ask.negative_prompt}", policy.get("banned_words"))
    if words:
        level, where = _where(policy, "banned_words")
        raise PolicyRefusal(
            "banned_words", level, f"The prompt uses a word {where} bans ({', '.join(words)}). "
            "Reword it."
        )  # fmt: skip


def _check_checkpoint(policy: Resolved, ask: Ask) -> None:
    allowed = policy.get("allowed_checkpoints")
    if not ask.checkpoint:
        if allowed and ask.kind != "upscale":
            level, where = _where(policy, "allowed_checkpoints")
            raise PolicyRefusal(
                "allowed_checkpoints", level, f"{where.capitalize()} allows only these "
                f"checkpoints: {', '.join(allowed)}. Name one in `checkpoint`."
            )  # fmt: skip
        return
    name = _model_name(ask.checkpoint)
    blocked = policy.get("blocked_checkpoints") or []
    if _matches(name, blocked):
        level, where = _where(policy, "blocked_checkpoints")
        raise PolicyRefusal(
            "blocked_checkpoints", level, f"{where.capitalize()} blocks checkpoint {name!r}. "
            "Pick another (GET /models)."
        )  # fmt: skip
    if allowed and not _matches(name, allowed):
        level, where = _where(policy, "allowed_checkpoints")
        raise PolicyRefusal(
            "allowed_checkpoints", level, f"{where.capitalize()} allows only these "
            f"checkpoints: {', '.join(allowed)}; not {name!r}."
        )  # fmt: skip


def _check_loras(policy: Resolved, ask: Ask, lora_labels) -> None:
    blocked = {e.lower() for e in policy.get("blocked_loras") or []}
    allowed = {e.lower() for e in policy.get("allowed_loras") or []}
    if not ask.loras or not (blocked or allowed):
        return
    labels_of = lora_labels(ask.loras)
    for name in ask.loras:
        labels = labels_of.get(name, {name.lower()})
        hit = sorted(labels & blocked)
        if hit:
            level, where = _where(policy, "blocked_loras")
            raise PolicyRefusal(
                "blocked_loras", level, f"{where.capitalize()} blocks LoRA {name!r} "
                f"({hit[0]}). Leave it out, and out of your session's LoRAs."
            )  # fmt: skip
        if allowed and not labels & allowed:
            level, where = _where(policy, "allowed_loras")
            raise PolicyRefusal(
                "allowed_loras", level, f"{where.capitalize()} allows only these LoRAs: "
                f"{', '.join(sorted(allowed))}; not {name!r}."
            )  # fmt: skip


def _model_name(title: str) -> str:
    """``"SDXL/dreamshaper_8.safetensors [879db523c3]"`` -> ``"dreamshaper_8"``."""
    name = title.split(" [", 1)[0].strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if name.endswith((".safetensors", ".ckpt")) else name


def _matches(name: str, entries: list[str]) -> bool:
    return name.lower() in {_model_name(e).lower() for e in entries}
