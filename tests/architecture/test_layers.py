"""The packages form layers: each may import the ones below it, never one above, not even
inside a function (docs/architecture.md). The benchmarks (bench/) sit above them all."""

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
    "communities",
    "generation_app",
    "discord_app",
    "webui",
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


def test_the_discord_stand_in_stands_apart():
    """discordsim (tests and demos) imports nothing of the hub, and nothing of it imports it."""
    used = set().union(*(imported_packages(p) for p in _sources("discordsim")))
    assert used & set(LAYERS) == set()
    users = [
        str(path.relative_to(ROOT))
        for package in LAYERS
        for path in _sources(package)
        if "discordsim" in imported_packages(path)
    ]
    assert users == []


def test_the_check_sees_a_climbing_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from generation_app.models import Job\n")
    assert "generation_app" in imported_packages(module)


# --- inside generation_app: sub-packages in layers, small modules, no circles ----------------
APP = ROOT / "generation_app"
# Bottom first; the app's own top-level modules (admin, apps, tasks, urls) wire these together.
APP_LAYERS = [
    "models",
    "jobs",
    "media",
    "scheduling",
    "delivery",
    "admission",
    "api",
    "controlnet",
    "regional",
    "extras",
    "sweeps",
    "gallery",
]
MAX_MODULE_LINES = 400
MAX_SUBPACKAGE_LINES = 1200


def app_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names imported) for every generation_app import in the file, at
    module level or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "generation_app":
                found += [(f"generation_app.{a.name}", []) for a in node.names]
            elif node.module.startswith("generation_app."):
                found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("generation_app.")]
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in APP_LAYERS else None


def app_sources() -> list[Path]:
    return [p for p in APP.rglob("*.py") if "migrations" not in p.parts]


def test_generation_app_sub_packages_import_only_the_layers_below_them():
    climbing = {}
    for path in app_sources():
        mine = layer_of(module_name(path))
        if mine is None:
            continue  # admin, apps, tasks, urls: the top
        for module, _ in app_imports(path):
            theirs = layer_of(module)
            if theirs is None or APP_LAYERS.index(theirs) > APP_LAYERS.index(mine):
                climbing.setdefault(str(path.relative_to(ROOT)), []).append(module)
    assert climbing == {}


def test_no_module_imports_another_modules_private_names():
    private = {}
    for path in [*app_sources(), *(ROOT / "core").rglob("*.py")]:
        for module, names in app_imports(path):
            hidden = [n for n in names if n.startswith("_")]
            if hidden:
                private.setdefault(str(path.relative_to(ROOT)), []).append((module, hidden))
    assert private == {}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), or a self-loop."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                out.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_circles_inside_generation_app_even_inside_functions():
    modules = {module_name(p): p for p in app_sources()}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module, names in app_imports(path):
            for candidate in [f"{module}.{n}" for n in names] + [module]:
                if candidate in modules and candidate != name:
                    targets.add(candidate)
                    break
        graph[name] = targets
    assert circles(graph) == []


def test_the_circle_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_generation_app_modules_and_sub_packages_stay_small():
    sizes = {p: len(p.read_text().splitlines()) for p in app_sources()}
    big_modules = {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    packages: dict[str, int] = {}
    for path, lines in sizes.items():
        layer = layer_of(module_name(path))
        if layer and layer != "models":
            packages[layer] = packages.get(layer, 0) + lines
    big_packages = {k: n for k, n in packages.items() if n > MAX_SUBPACKAGE_LINES}
    assert (big_modules, big_packages) == ({}, {})
