"""The web app against a real hub: `manage.py runhub` (gunicorn, the django-q2 clusters and
the simulator) on a temporary database, so the jobs really run; headless Chromium through
Selenium with Debian's chromium and chromedriver (Selenium Manager never goes online).

The hub runs with a global policy of at most MAX_STEPS steps, so the step cap is there to
see in the app. Keys are made with `manage.py create_api_key` on the hub's own database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from systemhelpers import ROOT, _start_runhub, _stop_runhub, per_worker

INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MAX_STEPS = 40

needs_chromium = pytest.mark.skipif(
    not (CHROMEDRIVER and CHROMIUM),
    reason=f"needs Chromium and chromedriver for the browser tests: {INSTALL}",
)


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("webui-hub")
    # One hub per pytest-xdist worker: systemhelpers gives it its own database (PostgreSQL
    # runs) and queue (Redis).
    database = "hub_webui"
    env = {"HUB_POLICY": f'{{"max_steps": {MAX_STEPS}}}', "SIM_STEP_MS": "20"}
    hub = _start_runhub(data_dir, database, **env)
    hub["data_dir"], hub["database"], hub["env"] = data_dir, database, env
    try:
        _wait_for_loras(hub)
        yield hub
    finally:
        _stop_runhub(hub)


def _wait_for_loras(hub) -> None:
    """The catalog is scanned from the simulator at start, on the housekeeping queue."""
    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Bearer {hub['key']}"}
    while time.monotonic() < deadline:
        if requests.get(f"{hub['base']}/loras", headers=headers, timeout=5).json()["count"]:
            return
        time.sleep(0.3)
    raise AssertionError("the LoRA catalog stayed empty")


@pytest.fixture(scope="session")
def manage(hub):
    """``manage.py <args>`` on the running hub's data folder and database (systemhelpers'
    own environment helper would recreate a PostgreSQL database); returns its last line."""
    env = {k: v for k, v in os.environ.items() if k not in ("A1111_URL", "DJANGO_SETTINGS_MODULE")}
    env["HUB_DATA_DIR"] = str(hub["data_dir"])
    if "DATABASE_URL" in env:
        database = per_worker(hub["database"])
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}"

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    return run


@pytest.fixture(scope="session")
def make_key(manage):
    """A user key for ``user_id`` on the hub's database."""
    return lambda user_id: manage("create_api_key", f"web {user_id}", "--user", user_id)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the run writes a screenshot of each page: HUB_SCREENSHOT_DIR, or a temp dir."""
    chosen = os.environ.get("HUB_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,800")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
