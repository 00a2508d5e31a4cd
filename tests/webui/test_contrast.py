"""The app's colours meet WCAG AA (4.5:1 for text) in the dark and the light theme,
computed from the stylesheet's own custom properties."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "webui/static/webui/app.css").read_text()
PAIRS = [("text", "bg"), ("text", "panel"), ("muted", "bg"), ("muted", "panel"),
         ("accent", "bg"), ("accent-ink", "accent"), ("danger", "panel"), ("ok", "panel")]  # fmt: skip


def palette(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block))


def themes() -> dict[str, dict[str, str]]:
    dark = palette(CSS.split("}", 1)[0])
    light_block = CSS.split("prefers-color-scheme: light", 1)[1].split("}", 1)[0]
    return {"dark": dark, "light": {**dark, **palette(light_block)}}


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_text_colours_have_at_least_aa_contrast(theme):
    colours = themes()[theme]
    poor = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2) for fg, bg in PAIRS}
    assert {pair: ratio for pair, ratio in poor.items() if ratio < 4.5} == {}


def test_the_check_finds_poor_contrast():
    assert contrast("#777777", "#888888") < 4.5 < contrast("#000000", "#ffffff")
