"""The docs stay whole: every HUB_* setting in the code is documented, the README fits on a
screen or two, and no relative link in the README or docs/ points to a missing file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "a1111hub",
    "core",
    "backends",
    "genparams",
    "loras_app",
    "sessions_app",
    "presets_app",
    "generation_app",
    "webui",
    "ops",
]
SKIPPED_DIRS = {"migrations", "tests", ".venv"}
NAME = re.compile(r"HUB_[A-Z0-9_]+")
# [text](target): the target up to a space, ")" or "#"; external and in-page links are skipped.
LINK = re.compile(r"\]\(([^)\s#]+)")
CONFIGURATION = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"


def setting_names() -> set[str]:
    """Every HUB_* name in the project's Python sources. A name ending in "_" is half of one
    split across two string literals (the other half is on the next line), not a name."""
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if SKIPPED_DIRS.isdisjoint(path.relative_to(ROOT).parts):
                names |= {n for n in NAME.findall(path.read_text()) if not n.endswith("_")}
    return names


def undocumented(names: set[str], doc: Path = CONFIGURATION) -> set[str]:
    """The names that do not appear in ``doc`` as whole names."""
    return names - set(NAME.findall(doc.read_text()))


def broken_links(page: Path) -> list[str]:
    targets = LINK.findall(page.read_text())
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    return [t for t in local if not (page.parent / t).exists()]


def test_the_sources_name_settings():
    assert {"HUB_DATA_DIR", "HUB_MAX_ACTIVE_JOBS_PER_USER"} <= setting_names()


def test_every_setting_in_the_code_is_in_the_configuration_page():
    assert undocumented(setting_names()) == set()


def test_a_setting_missing_from_the_configuration_page_is_found():
    assert undocumented({"HUB_DATA_DIR", "HUB_NO_SUCH_SETTING"}) == {"HUB_NO_SUCH_SETTING"}


def test_the_readme_fits_on_a_screen_or_two():
    assert len(README.read_text().splitlines()) <= 300


def test_every_relative_link_points_to_a_file_that_exists():
    pages = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    broken = {str(p.relative_to(ROOT)): b for p in pages if (b := broken_links(p))}
    assert broken == {}
