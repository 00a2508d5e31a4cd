"""Sweeps: one base request, up to three axes, one job per cell, spread over every free
backend (unlike A1111's X/Y/Z plot, which runs its cells one by one on one GPU), and a
labelled contact sheet when they are done.

The axis rules and the cell expansion here are pure; ``service`` plans the rows (the one
door in admission saves them) and ``sheet`` draws the contact sheet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import serializers

from genparams.params import validate_generation_params
from loras_app.selectors import usable_lora

MAX_AXES = 3


PLAIN_AXES = (
    "seed",
    "sampler_name",
    "scheduler",
    "checkpoint",
    "cfg_scale",
    "steps",
    "denoising_strength",
)


LORA_AXIS = "lora:"  # "lora:<filename>": that LoRA's weight


PROMPT_AXIS = "prompt_sr"  # A1111's Prompt S/R: the first value is searched, each replaces it


@dataclass(frozen=True)
class Axis:
    field: str
    values: list[Any]

    @property
    def label(self) -> str:
        if self.field.startswith(LORA_AXIS):
            return f"{self.field.removeprefix(LORA_AXIS)} weight"
        return "prompt S/R" if self.field == PROMPT_AXIS else self.field


def check_axes(raw: list[dict[str, Any]], base: dict[str, Any]) -> list[Axis]:
    """Axes as sent, checked value by value with the rules a request meets (names against
    the backends' lists, ranges, usable LoRAs). 400 with the axis named otherwise."""
    if not raw or len(raw) > MAX_AXES:
        raise serializers.ValidationError({"axes": [f"Give 1 to {MAX_AXES} axes."]})
    axes, cells = [], 1
    for index, item in enumerate(raw):
        where = f"axes[{index}]"
        field, values = item.get("field"), item.get("values")
        if not isinstance(values, list) or not values:
            raise serializers.ValidationError({where: ["values: give a non-empty list."]})
        if len(set(map(str, values))) != len(values):
            raise serializers.ValidationError({where: ["values: each value once."]})
        axes.append(Axis(field, _check_values(where, field, values, base)))
        cells *= len(values)
    if len({a.field for a in axes}) != len(axes):
        raise serializers.ValidationError({"axes": ["Each field on one axis only."]})
    if cells > settings.HUB_MAX_SWEEP_CELLS:
        raise serializers.ValidationError(
            {"axes": [f"{cells} cells; at most {settings.HUB_MAX_SWEEP_CELLS} per sweep."]}
        )
    return axes


def _check_values(where: str, field: Any, values: list, base: dict[str, Any]) -> list:
    if field in PLAIN_AXES:
        checked = []
        for value in values:
            try:
                checked.append(validate_generation_params({field: value})[field])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({where: exc.detail}) from None
        return checked
    if isinstance(field, str) and field.startswith(LORA_AXIS):
        usable_lora(field.removeprefix(LORA_AXIS))  # 404 with suggestions otherwise
        low, high = settings.LORA_WEIGHT_MIN, settings.LORA_WEIGHT_MAX
        if not all(isinstance(v, int | float) and low <= v <= high for v in values):
            raise serializers.ValidationError({where: [f"LoRA weights from {low} to {high}."]})
        return [float(v) for v in values]
    if field == PROMPT_AXIS:
        if not all(isinstance(v, str) for v in values):
            raise serializers.ValidationError({where: ["Prompt S/R values are text."]})
        if any(len(v) > settings.HUB_MAX_PROMPT_CHARS for v in values):
            raise serializers.ValidationError(
                {where: [f"Prompt S/R values: at most {settings.HUB_MAX_PROMPT_CHARS:,} "
                         "characters each (HUB_MAX_PROMPT_CHARS)."]}
            )  # fmt: skip
        if values[0] not in (base.get("prompt") or ""):
            raise serializers.ValidationError(
                {where: [f"The first value, {values[0]!r}, must appear in the prompt."]}
            )
        return values
    known = ", ".join([*PLAIN_AXES, f"{LORA_AXIS}<filename>", PROMPT_AXIS])
    raise serializers.ValidationError({where: [f"Unknown axis {field!r}. Axes: {known}."]})


def cells(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination, x fastest: {field: value} per cell."""
    ordered = list(reversed(axes))  # product() varies its last iterable fastest
    return [
        dict(zip([a.field for a in ordered], combo, strict=True))
        for combo in itertools.product(*(a.values for a in ordered))
    ]


def _check_replaced_length(key: str, text: str, search: str, value: str, cell: dict) -> None:
    """A cell's prompt meets the prompt limit like any request's; measured before the
    replacement is made (one short value repeated in a long prompt grows it n-fold)."""
    length = len(text) + text.count(search) * (len(value) - len(search))
    limit = settings.HUB_MAX_PROMPT_CHARS
    if length > limit:
        raise serializers.ValidationError(
            {"axes": [f"Cell {cell}: its {key} would be {length:,} characters after Prompt S/R; "
                      f"at most {limit:,} (HUB_MAX_PROMPT_CHARS). Use shorter values."]}
        )  # fmt: skip


def apply_cell(params: dict[str, Any], cell: dict[str, Any], axes: list[Axis]) -> dict[str, Any]:
    """The base parameters with this cell's values put in."""
    out = dict(params)
    for field, value in cell.items():
        if field.startswith(LORA_AXIS):
            out["loras"] = {**(out.get("loras") or {}), field.removeprefix(LORA_AXIS): value}
        elif field == PROMPT_AXIS:
            search = next(a for a in axes if a.field == PROMPT_AXIS).values[0]
            for key in ("prompt", "negative_prompt"):
                if out.get(key):
                    _check_replaced_length(key, out[key], search, value, cell)
                    out[key] = out[key].replace(search, value)
        else:
            out[field] = value
    return out
