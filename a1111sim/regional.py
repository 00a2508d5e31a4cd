"""Regional Prompter (hako-mikan/sd-webui-regional-prompter): args, region layout, checks.

Positional args fill the script's 20 slots (the tail keeps its defaults, extras are dropped).
The script is a no-op unless active and the prompt has a region keyword. In Matrix mode the
region chunks must cover every ratio cell, else the real extension dies with IndexError;
surplus chunks are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .catalog import RP_ARG_DEFAULTS
from .validation import runtime_error

KEYWORDS = ("ADDCOMM", "ADDROW", "ADDCOL", "ADDBASE", "ADDP", "BREAK", "AND")
RE_REGION_SPLIT = re.compile(r"\bBREAK\b|\bADDCOL\b|\bADDROW\b")
OPTION_NAMES = (
    "disable convert 'AND' to 'BREAK'",
    "Use LoHa or other",
    "Use BREAK to change chunks",
    "Flip prompts",
    "Comment Out `#`",
    "Enabled only in Hires Fix",
    "Disabled in Hires Fix",
    "debug",
    "debug2",
)


@dataclass
class RegionPlan:
    extra_params: dict[str, Any]
    boxes: list[tuple[tuple[int, int, int, int], str]]  # ((x0, y0, x1, y1), region prompt)


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true") or v == 1


def _options(raw: Any, debug: Any) -> list[str]:
    """rp.py Script.process: bool (legacy), comma string split without stripping, or a list;
    the debug slot appends "debug"; unknown names are dropped."""
    if isinstance(raw, bool):
        raw = [OPTION_NAMES[0]] if raw else []
    elif isinstance(raw, str):
        raw = raw.split(",")
    elif not isinstance(raw, list):
        raw = []
    raw = list(raw)
    if debug is True:
        raw.append("debug")
    return [o for o in raw if isinstance(o, str) and o in OPTION_NAMES]


def _floatdef(text: str, default: float) -> float:
    """regions.floatdef: a number, or the default for anything that does not parse."""
    try:
        return float(text)
    except ValueError:
        return default


def _ratios(text: str) -> list[list[float]]:
    """'1,2;3,4' -> [[1, 2], [3, 4]]; a bad or empty number counts as 1 (ffloatd(1))."""
    return [[_floatdef(x, 1.0) for x in group.split(",")] for group in str(text).split(";")]


def _spans(weights: list[float], total: int) -> list[tuple[int, int]]:
    s = sum(weights) or 1.0
    edges = [0]
    acc = 0.0
    for w in weights:
        acc += w
        edges.append(round(total * acc / s))
    return list(zip(edges, edges[1:], strict=False))


def _cells(ratio_text: str, split: str, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Region boxes in prompt order; 2-D groups give the row (column) size first."""
    rows = _ratios(ratio_text)
    columns_first = split != "Rows"
    if len(rows) == 1:
        spans = _spans(rows[0], width if columns_first else height)
        if columns_first:
            return [(a, 0, b, height) for a, b in spans]
        return [(0, a, width, b) for a, b in spans]
    outer = _spans([r[0] for r in rows], height if columns_first else width)
    boxes = []
    for (o0, o1), row in zip(outer, rows, strict=False):
        inner = _spans(row[1:] or [1.0], width if columns_first else height)
        for i0, i1 in inner:
            boxes.append((i0, o0, i1, o1) if columns_first else (o0, i0, o1, i1))
    return boxes


def plan(args: list[Any], prompt: str, width: int, height: int) -> RegionPlan | None:
    """Resolve the script args for one job; None when the script stays a no-op."""
    slots = list(RP_ARG_DEFAULTS)
    for i, v in enumerate(args[: len(slots)]):
        slots[i] = v
    mode, split = str(slots[2]), str(slots[3])
    if mode == "Nope":
        mode = slots[2] = "Matrix"
    split = {"Horizontal": "Columns", "Vertical": "Rows"}.get(split, split)
    if not slots[0] or not any(k in prompt for k in KEYWORDS):  # rp.py: `or not active`
        return None
    options = _options(slots[12], slots[1])
    usebase, usecom, calcmode = _truthy(slots[8]), _truthy(slots[9]), str(slots[11])
    if "ADDP" in prompt:
        mode = "Prompt"
    text = prompt
    if "AND" in text and OPTION_NAMES[0] not in options and calcmode != "Latent":
        text = re.sub(r"\bAND\b", "BREAK", text)
    common = ""
    if "ADDCOMM" in text:
        common, text = text.split("ADDCOMM", 1)
        usecom = True
    if "ADDBASE" in text:
        _base, text = text.split("ADDBASE", 1)
        usebase = True
    chunks = [c.strip() for c in RE_REGION_SPLIT.split(text)]
    if usecom and not common and len(chunks) > 1:
        common, chunks = chunks[0], chunks[1:]
    if usebase and "ADDBASE" not in prompt and len(chunks) > 1:
        chunks = chunks[1:]
    # rp.py Script.process writes the raw args, before any keyword changes them
    extra = {
        "RP Active": slots[0],
        "RP Divide mode": slots[2],
        "RP Matrix submode": slots[3],
        "RP Mask submode": slots[4],
        "RP Prompt submode": slots[5],
        "RP Calc Mode": slots[11],
        "RP Ratios": slots[6],
        "RP Base Ratios": slots[7],
        "RP Use Base": slots[8],
        "RP Use Common": slots[9],
        "RP Use Ncommon": slots[10],
        "RP Options": ",".join(options) if options else "No Options",
        "RP LoRA Neg Te Ratios": slots[13],
        "RP LoRA Neg U Ratios": slots[14],
        "RP threshold": slots[15],
        "RP LoRA Stop Step": slots[17],
        "RP LoRA Hires Stop Step": slots[18],
        "RP Flip": slots[19],
    }
    boxes: list[tuple[tuple[int, int, int, int], str]] = []
    if mode == "Matrix":
        ratio_text = str(slots[6])
        if slots[19]:
            ratio_text = ratio_text.replace(",", "\0").replace(";", ",").replace("\0", ";")
        cells = _cells(ratio_text, split, width // 8 * 8, height // 8 * 8)
        # attention.py matsepcalc walks the ratio cells and indexes the prompt chunks
        # (tll[i]): fewer chunks than cells is an IndexError, surplus chunks go unused.
        if len(chunks) < len(cells):
            raise runtime_error("list index out of range", "IndexError")
        boxes = [
            (cell, f"{common.strip()} {chunk}".strip())
            for cell, chunk in zip(cells, chunks, strict=False)
        ]
    return RegionPlan(extra_params=extra, boxes=boxes)
