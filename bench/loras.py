"""Benchmark the catalog: scan 10,000 sparse safetensors files, grow the catalog to 100,000
rows, then time search and autocomplete through the HTTP API and measure their quality.

Runs in-process, in a throw-away test database (``test_<NAME>`` of the configured one), so
point it at a scratch database or data folder:
``DATABASE_URL=postgres://…/bench_loras python -m bench.loras`` or
``HUB_DATA_DIR=$(mktemp -d) python -m bench.loras``.

    python -m bench.loras [--files 10000] [--rows 100000] [--queries 300] [--seed 7]
                          [--json FILE]
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench.harness import parser, report, setup_django

COMMON = (
    "anime style character lora detail eyes hair girl boy city neon dark light fantasy "
    "realistic portrait landscape armor dress cyber punk water color ink sketch pixel retro "
    "film noir studio ghibli pastel glow shadow dragon knight witch robot forest ocean "
    "winter summer flower cat fox wolf angel demon samurai ninja mecha cute chibi"
).split()
SYLLABLES = "ka ro mi ne su ta lo ri an el or is ur va ze qu to ha mo ji be ly sa fi".split()


def _words(rng: random.Random, count: int) -> list[str]:
    words = set(COMMON)
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


def _names(rng: random.Random, total: int) -> list[str]:
    vocabulary = _words(rng, 700)
    names: set[str] = set()
    while len(names) < total:
        parts = [rng.choice(vocabulary) for _ in range(rng.randint(2, 3))]
        if rng.random() < 0.4:
            parts.append(f"v{rng.randint(1, 5)}")
        sep = rng.choice(["_", "_", "-", " "])
        names.add(sep.join(parts))
    return sorted(names)


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(1, len(text) - 1)
    op = rng.choice(["drop", "swap", "replace", "insert"])
    if op == "drop":
        return text[:i] + text[i + 1 :]
    if op == "swap":
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if op == "replace":
        return text[:i] + letter + text[i + 1 :]
    return text[:i] + letter + text[i:]


def _write_sparse(path: Path, name: str, rng: random.Random) -> None:
    tags = {f"{rng.randint(1, 20)}_{name}": {name.split("_")[0]: 30, "1girl": rng.randint(1, 30)}}
    meta = {
        "ss_output_name": name,
        "ss_base_model_version": rng.choice(["sd_v1", "sdxl_base_v1-0"]),
        "ss_tag_frequency": json.dumps(tags),
    }
    header = json.dumps(
        {"__metadata__": meta, "w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}
    )
    raw = header.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(rng.randint(10, 150) * 1024 * 1024)  # sparse: size without disk use


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct))], 2)


def run(opts: dict) -> dict:
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    tmp = Path(tempfile.mkdtemp(prefix="bench-loras-"))
    try:
        return _run(tmp, opts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        teardown_databases(old, verbosity=0)


def _run(tmp: Path, opts: dict) -> dict:
    from django.db import connection
    from django.test import Client

    from core.models import ApiKey
    from loras_app.models import Lora
    from loras_app.scan.runs import scan, summary_line
    from loras_app.scan.sources import Source
    from loras_app.search import index_columns

    rng = random.Random(opts["seed"])
    names = _names(rng, opts["rows"])
    rng.shuffle(names)
    on_disk, in_db_only = names[: opts["files"]], names[opts["files"] :]
    for i, name in enumerate(on_disk):
        folder = tmp / f"group{i % 20}"
        folder.mkdir(exist_ok=True)
        _write_sparse(folder / f"{name}.safetensors", name, rng)
    source = Source(directory=str(tmp))
    start = time.perf_counter()
    first = scan(source)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    again = scan(source)
    again_s = time.perf_counter() - start

    rows = []
    for name in in_db_only:
        lora = Lora(
            filename=f"{name}.safetensors",
            name=name,
            alias=name,
            prompt_name=name,
            relative_path=f"x/{name}.safetensors",
        )
        lora.search_text, lora.name_key = index_columns(lora, [name.split("_")[0]])
        rows.append(lora)
    Lora.objects.bulk_create(rows, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    key = ApiKey.generate("bench")[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    targets = rng.sample(names, opts["queries"])
    typo = [(_typo(rng, t.replace("_", " ").replace("-", " ")), t) for t in targets]
    prefix = []
    for t in targets:
        words = t.replace("-", "_").replace(" ", "_").split("_")
        cut = min(len(t), len(words[0]) + 1 + rng.randint(3, 6))
        prefix.append((t[:cut], t))
    client.get("/loras?search=warmup&limit=10")
    search_ms, typo_hits = _time(
        client, "/loras?limit=10&search=", typo, lambda b: [r["filename"] for r in b["results"]]
    )
    prefix_ms, prefix_hits = _time(
        client,
        "/loras?limit=10&search=",
        prefix,
        lambda b: [r["filename"] for r in b["results"]],
    )
    keystrokes = [(t[: rng.randint(1, len(t))], t) for t in targets]
    auto_ms, _ = _time(
        client, "/loras/autocomplete?q=", keystrokes, lambda b: [c["value"] for c in b]
    )
    auto_prefix_ms, auto_hits = _time(
        client, "/loras/autocomplete?limit=10&q=", prefix, lambda b: [c["value"] for c in b]
    )
    return {
        "database": connection.vendor,
        "catalog_rows": Lora.objects.count(),
        "files": len(on_disk),
        "scan_first_s": round(first_s, 2),
        "scan_first": summary_line(first),
        "scan_unchanged_s": round(again_s, 3),
        "scan_unchanged": summary_line(again),
        "search_typo_ms": {"p50": _p(search_ms, 0.5), "p95": _p(search_ms, 0.95)},
        "search_prefix_ms": {"p50": _p(prefix_ms, 0.5), "p95": _p(prefix_ms, 0.95)},
        "autocomplete_ms": {
            "p50": _p(auto_ms + auto_prefix_ms, 0.5),
            "p95": _p(auto_ms + auto_prefix_ms, 0.95),
        },
        "quality_one_typo_top10": round(100 * typo_hits / len(typo), 1),
        "quality_prefix_top10": round(100 * prefix_hits / len(prefix), 1),
        "quality_prefix_autocomplete_top10": round(100 * auto_hits / len(prefix), 1),
        "queries_per_set": len(targets),
    }


def _time(client, url: str, queries, files_of) -> tuple[list[float], int]:
    timings, hits = [], 0
    for query, target in queries:
        start = time.perf_counter()
        response = client.get(url + quote(query))
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:300]
        hits += f"{target}.safetensors" in files_of(response.json())[:10]
    return timings, hits


def table(r: dict) -> list[str]:
    lines = [
        ("database", r["database"], ""),
        ("first scan (10k files)", f"{r['scan_first_s']} s", "< 3 s"),
        ("unchanged re-scan", f"{r['scan_unchanged_s']} s", "< 0.5 s"),
        ("search p95 (typo)", f"{r['search_typo_ms']['p95']} ms", "< 25 ms"),
        ("search p95 (prefix)", f"{r['search_prefix_ms']['p95']} ms", "< 25 ms"),
        ("autocomplete p95", f"{r['autocomplete_ms']['p95']} ms", "< 15 ms"),
        ("one-typo in top 10", f"{r['quality_one_typo_top10']} %", ">= 90 %"),
        ("prefix in top 10", f"{r['quality_prefix_top10']} %", ">= 95 %"),
    ]
    return ["", *(f"{label:26} {value:>12}   {target}" for label, value, target in lines)]


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "loras", "Benchmark LoRA scanning and search at 100,000 rows (prints JSON and a table)."
    )
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    setup_django()
    result = run(vars(args))
    report(result, args.json_path, table(result))


if __name__ == "__main__":
    main()
