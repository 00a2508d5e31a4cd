"""The packages form layers: each may import the ones below it, never one above, not even
inside a function (the README's "Code map"). The benchmarks (bench/) sit above them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Bottom first. a1111sim stands apart: it imports none of these, and none imports it
# except the project's runhub (which starts it) and the tests.
LAYERS = [
    "a1111",
    "core",
    "backends",
    "genparams",
    "loras_app",
    "sessions_app",
    "presets_app",
    "generation_app",
    "ops",
    "a1111hub",
]
ALLOWED_SIM_USERS = {"a1111hub"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def _sources(package: str):
    return [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_the_layers_below_it(package):
    below = set(LAYERS[: LAYERS.index(package) + 1])
    climbing = {}
    for path in _sources(package):
        wrong = (imported_packages(path) & (set(LAYERS) | {"a1111sim"})) - below
        if "a1111sim" in wrong and package in ALLOWED_SIM_USERS:
            wrong.discard("a1111sim")
        if wrong:
            climbing[str(path.relative_to(ROOT))] = sorted(wrong)
    assert climbing == {}


def test_nothing_of_the_hub_imports_the_benchmarks():
    """bench/ sits above every layer: it may import any of them, none of them imports it."""
    users = [
        str(path.relative_to(ROOT))
        for package in [*LAYERS, "a1111sim"]
        for path in _sources(package)
        if "bench" in imported_packages(path)
    ]
    assert users == []


def test_the_simulator_imports_nothing_of_the_hub():
    used = set().union(*(imported_packages(p) for p in _sources("a1111sim")))
    assert used & set(LAYERS) == set()


def test_the_check_sees_a_climbing_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from generation_app.models import Job\n")
    assert "generation_app" in imported_packages(module)
