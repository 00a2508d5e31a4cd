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


def _options(raw: Any) -> list[str]:
    if isinstance(raw, bool):
        return [OPTION_NAMES[0]] if raw else []
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",")]
    if isinstance(raw, list):
        return [o for o in raw if o in OPTION_NAMES]
    return []


def _ratios(text: str) -> list[list[float]]:
    """'1,2;3,4' -> [[1, 2], [3, 4]]; a bad number is the extension's ValueError."""
    rows = []
    for group in str(text).split(";"):
        try:
            rows.append([float(x) for x in group.split(",") if x.strip() != ""] or [1.0])
        except ValueError as exc:
            raise runtime_error(str(exc), "ValueError") from None
    return rows


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
    active, mode, split = _truthy(slots[0]), str(slots[2]), str(slots[3])
    split = {"Horizontal": "Columns", "Vertical": "Rows"}.get(split, split)
    if not active or not any(k in prompt for k in KEYWORDS):
        return None
    options = _options(slots[12])
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
    extra = {
        "RP Active": True,
        "RP Divide mode": mode,
        "RP Matrix submode": split,
        "RP Mask submode": slots[4],
        "RP Prompt submode": slots[5],
        "RP Calc Mode": calcmode,
        "RP Ratios": str(slots[6]),
        "RP Base Ratios": str(slots[7]),
        "RP Use Base": usebase,
        "RP Use Common": usecom,
        "RP Use Ncommon": _truthy(slots[10]),
        "RP Options": options,
        "RP LoRA Neg Te Ratios": str(slots[13]),
        "RP LoRA Neg U Ratios": str(slots[14]),
        "RP threshold": str(slots[15]),
        "RP LoRA Stop Step": str(slots[17]),
        "RP LoRA Hires Stop Step": str(slots[18]),
        "RP Flip": _truthy(slots[19]),
    }
    boxes: list[tuple[tuple[int, int, int, int], str]] = []
    if mode == "Matrix":
        ratio_text = str(slots[6])
        if _truthy(slots[19]):
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
