"""Regional Prompter (hako-mikan/sd-webui-regional-prompter): layouts, prompt, script args.

Pure functions, no database and no HTTP. The extension splits the picture by a ratio string
and reads one prompt chunk per region, separated by keywords; it does nothing unless it is
``active`` *and* the prompt carries a separator, and a chunk count that does not match the
ratios dies in A1111 with a 500 IndexError. So the hub writes the prompt itself, counts the
regions before queueing, and always sends ``active`` (``scripts/rp.py`` of hako-mikan/sd-webui-regional-prompter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SCRIPT_TITLE = "Regional Prompter"
COLUMNS, ROWS = "Columns", "Rows"
CALC_MODES = ("Attention", "Latent")
# Keywords the extension reads in a prompt; a user's text must not carry them, or the
# region count the hub checked would no longer be the one A1111 sees.
KEYWORDS = ("ADDCOMM", "ADDBASE", "ADDCOL", "ADDROW", "ADDP", "BREAK")
KEYWORD_RE = re.compile(r"\b(" + "|".join(KEYWORDS) + r")\b")
AND_RE = re.compile(r"\bAND\b")
NO_AND_CONVERSION = "disable convert 'AND' to 'BREAK'"


@dataclass(frozen=True)
class Layout:
    """A named split of the picture, in the extension's own ratio syntax."""

    name: str
    direction: str  # COLUMNS: split left to right first; ROWS: top to bottom first
    ratios: str
    description: str


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "two_columns", COLUMNS, "1,1", "Left and right halves: region1 left, region2 right."
        ),
        Layout("three_columns", COLUMNS, "1,1,1", "Three vertical strips, left to right."),
        Layout("two_rows", ROWS, "1,1", "Top and bottom halves: region1 top, region2 bottom."),
        Layout("three_rows", ROWS, "1,1,1", "Three horizontal bands, top to bottom."),
        Layout(
            "grid_2x2",
            COLUMNS,
            "1,1,1;1,1,1",
            "Four quarters: region1 top left, region2 top right, region3 bottom left, "
            "region4 bottom right.",
        ),
    )
}
CUSTOM = "custom"
CUSTOM_DESCRIPTION = (
    'Your own `ratios` in the extension\'s syntax. One dimension: weights such as "2,1" '
    "(or [2, 1]) split along `direction` (columns or rows). Two dimensions: groups split by "
    '";" (or a list of lists); with direction columns each group is a row whose first '
    'number is its height and the rest its column widths, e.g. "1,2,1;1,1,1,1" is a top '
    "row of two cells over a bottom row of three (with rows, the transpose)."
)


class RegionalError(ValueError):
    """A configuration the extension would reject or misread; the message says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Region:
    prompt: str
    negative_prompt: str = ""


@dataclass
class RegionalSpec:
    """What a request asks for, already read from its fields."""

    regions: list[Region]
    prompt: str = ""  # the request's own prompt: kept, written before the common prompt
    layout: str | None = None
    ratios: str | None = None  # the extension's ratio string, overrides the layout's
    direction: str | None = None
    common_prompt: str = ""
    base_prompt: str = ""
    base_ratio: Any = 0.2  # one value, or one per region
    negative_prompt: str = ""  # common to every region
    calc_mode: str = "Attention"


@dataclass
class RegionalPlan:
    prompt: str
    negative_prompt: str
    args: list[Any]
    ratios: str
    direction: str
    region_count: int
    warnings: list[str] = field(default_factory=list)


def _number(value: Any, where: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegionalError("ratios", f"{where}: {value!r} is not a number.") from None
    if number <= 0:
        raise RegionalError("ratios", f"{where}: ratios must be above 0, got {value!r}.")
    return f"{number:g}"


def ratio_string(ratios: Any) -> str:
    """ "2,1", [2, 1] or [[1, 2, 1], [1, 1]] as the extension's string ("," and ";")."""
    if isinstance(ratios, str):
        groups = [g.split(",") for g in ratios.replace(" ", "").split(";")]
    elif isinstance(ratios, list) and ratios and all(isinstance(g, list) for g in ratios):
        groups = ratios
    elif isinstance(ratios, list) and ratios:
        groups = [ratios]
    else:
        raise RegionalError("ratios", 'Give ratios as "1,1", [1, 1] or [[1, 1, 1], [1, 1, 1]].')
    return ";".join(
        ",".join(_number(v, f"group {i + 1}") for v in group) for i, group in enumerate(groups)
    )


def region_count(ratios: str) -> int:
    """Regions a ratio string makes: one per weight in 1-D; in 2-D each group's first
    number sizes the group and the rest are its cells (a group of one number is one cell)."""
    groups = [g.split(",") for g in ratios.split(";")]
    if len(groups) == 1:
        return len(groups[0])
    return sum(max(1, len(g) - 1) for g in groups)


def _cells_per_group(ratios: str) -> list[int]:
    groups = [g.split(",") for g in ratios.split(";")]
    return [max(1, len(g) - 1) for g in groups]


def _check_text(field: str, text: str) -> str:
    found = KEYWORD_RE.search(text or "")
    if found:
        raise RegionalError(
            field,
            f"Remove {found.group(1)!r}: the hub writes the region separators itself, and an "
            "extra one would change the number of regions A1111 sees.",
        )
    return (text or "").strip()


def _join(*parts: str) -> str:
    return ", ".join(p.strip().strip(",").strip() for p in parts if p and p.strip())


def _layout(spec: RegionalSpec) -> tuple[str, str]:
    if spec.layout and spec.layout != CUSTOM:
        if spec.layout not in LAYOUTS:
            names = ", ".join([*LAYOUTS, CUSTOM])
            raise RegionalError("layout", f"Unknown layout {spec.layout!r}. Valid: {names}.")
        layout = LAYOUTS[spec.layout]
        return spec.ratios or layout.ratios, spec.direction or layout.direction
    if not spec.ratios:
        raise RegionalError("ratios", 'A custom layout needs `ratios`, e.g. "2,1" or "1,1,1;1,1".')
    return spec.ratios, spec.direction or COLUMNS


def _region_text(ratios: str, direction: str, chunks: list[str]) -> str:
    """Chunks joined with BREAK in 1-D, with ADDCOL/ADDROW cells in 2-D (outer groups are
    rows when the split is Columns, columns when it is Rows)."""
    groups = _cells_per_group(ratios)
    if len(groups) == 1:
        return " BREAK ".join(chunks)
    inner, outer = (" ADDCOL ", " ADDROW ") if direction == COLUMNS else (" ADDROW ", " ADDCOL ")
    written, start = [], 0
    for cells in groups:
        written.append(inner.join(chunks[start : start + cells]))
        start += cells
    return outer.join(written)


def plan(spec: RegionalSpec) -> RegionalPlan:
    """The prompt, negative prompt and the script's 20 positional args for one request."""
    ratios, direction = _layout(spec)
    ratios = ratio_string(ratios)
    expected = region_count(ratios)
    if len(spec.regions) != expected:
        raise RegionalError(
            "regions",
            f"The layout has {expected} regions ({direction.lower()}, ratios {ratios!r}) but "
            f"{len(spec.regions)} region prompt(s) were given; give exactly {expected} "
            f"(region1_prompt..region{expected}_prompt).",
        )
    region_prompts = [
        _check_text(f"region{i + 1}_prompt", r.prompt) for i, r in enumerate(spec.regions)
    ]
    for i, text in enumerate(region_prompts):
        if not text:
            raise RegionalError(f"region{i + 1}_prompt", "Must not be empty.")
    common = _join(
        _check_text("prompt", spec.prompt), _check_text("common_prompt", spec.common_prompt)
    )
    base = _check_text("base_prompt", spec.base_prompt)
    parts = []
    if common:
        parts.append(f"{common} ADDCOMM")
    if base:
        parts.append(f"{base} ADDBASE")
    parts.append(_region_text(ratios, direction, region_prompts))
    prompt = "\n".join(parts)

    negatives = [
        _check_text(f"region{i + 1}_negative_prompt", r.negative_prompt)
        for i, r in enumerate(spec.regions)
    ]
    common_negative = _check_text("negative_prompt", spec.negative_prompt)
    if any(negatives):
        # One negative chunk per region, the common negative written into each: the
        # extension pairs negative BREAK chunks with regions in order.
        negative = " BREAK ".join(_join(common_negative, n) for n in negatives)
    else:
        negative = common_negative

    options = [] if spec.calc_mode == "Latent" else [NO_AND_CONVERSION]
    args: list[Any] = [
        True,  # 0 active: without it the script is a no-op
        False,  # 1 debug
        "Matrix",  # 2 divide mode
        direction,  # 3 matrix split
        "Mask",  # 4 mask submode
        "Prompt",  # 5 prompt submode
        ratios,  # 6 divide ratios
        base_ratio_string(spec.base_ratio, expected),  # 7 base ratio(s)
        bool(base),  # 8 use base prompt
        bool(common),  # 9 use common prompt
        False,  # 10 use common negative prompt (the hub writes it into each chunk)
        spec.calc_mode,  # 11 calc mode
        options,  # 12 options: the hub's BREAKs are the only separators
        "0",  # 13 LoRA in negative text encoder
        "0",  # 14 LoRA in negative U-Net
        "0",  # 15 threshold (Prompt mode only)
        "",  # 16 mask (Mask mode only)
        "0",  # 17 LoRA stop step
        "0",  # 18 LoRA hires stop step
        False,  # 19 flip "," and ";"
    ]
    return RegionalPlan(
        prompt=prompt,
        negative_prompt=negative,
        args=args,
        ratios=ratios,
        direction=direction,
        region_count=expected,
    )


def base_ratio_string(value: Any, regions: int) -> str:
    """One ratio for all regions, or one per region; each 0..1."""
    values = value if isinstance(value, list) else str(value).replace(" ", "").split(",")
    if isinstance(value, list) and len(values) not in (1, regions):
        raise RegionalError("base_ratio", f"Give one base ratio or {regions} (one per region).")
    out = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise RegionalError("base_ratio", f"{v!r} is not a number.") from None
        if not 0 <= number <= 1:
            raise RegionalError("base_ratio", f"{v!r} is outside 0..1.")
        out.append(f"{number:g}")
    return ",".join(out)


def layouts_table() -> list[dict[str, Any]]:
    """The layouts a client can offer (a Discord bot: as choices), with their region counts."""
    rows = [
        {
            "name": layout.name,
            "description": layout.description,
            "direction": layout.direction.lower(),
            "ratios": layout.ratios,
            "regions": region_count(layout.ratios),
            "diagram": diagram_data_uri(layout.ratios, layout.direction),
        }
        for layout in LAYOUTS.values()
    ]
    rows.append(
        {
            "name": CUSTOM,
            "description": CUSTOM_DESCRIPTION,
            "direction": None,
            "ratios": None,
            "regions": None,
            "diagram": None,
        }
    )
    return rows


def boxes(ratios: str, direction: str, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Region rectangles in prompt order, as the extension lays them out."""

    def spans(weights: list[float], total: int) -> list[tuple[int, int]]:
        edges, acc, whole = [0], 0.0, sum(weights)
        for w in weights:
            acc += w
            edges.append(round(total * acc / whole))
        return list(zip(edges, edges[1:], strict=False))

    groups = [[float(v) for v in g.split(",")] for g in ratios.split(";")]
    columns_first = direction == COLUMNS
    if len(groups) == 1:
        along = spans(groups[0], width if columns_first else height)
        if columns_first:
            return [(a, 0, b, height) for a, b in along]
        return [(0, a, width, b) for a, b in along]
    result = []
    outer = spans([g[0] for g in groups], height if columns_first else width)
    for (o0, o1), group in zip(outer, groups, strict=True):
        for i0, i1 in spans(group[1:] or [1.0], width if columns_first else height):
            result.append((i0, o0, i1, o1) if columns_first else (o0, i0, o1, i1))
    return result


_DIAGRAMS: dict[tuple[str, str], str] = {}


def diagram_data_uri(ratios: str, direction: str, size: tuple[int, int] = (96, 64)) -> str:
    """A small PNG of the split with each region numbered, as a data: URI (cached)."""
    key = (ratios, direction)
    if key not in _DIAGRAMS:
        import base64
        import io

        from PIL import Image, ImageDraw

        image = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(image)
        palette = ["#e57373", "#64b5f6", "#81c784", "#ffd54f", "#ba68c8", "#4db6ac"]
        for n, (x0, y0, x1, y1) in enumerate(boxes(ratios, direction, *size)):
            draw.rectangle(
                (x0, y0, x1 - 1, y1 - 1), fill=palette[n % len(palette)], outline="black"
            )
            draw.text(((x0 + x1) // 2 - 3, (y0 + y1) // 2 - 5), str(n + 1), fill="black")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        _DIAGRAMS[key] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return _DIAGRAMS[key]
