"""Start and stop a real hub (`manage.py runhub` with the built-in simulator) on a temporary
database: shared by the system tests, the generated-client test and the schemathesis run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The port of the session's shared hub (tests/conftest.py running_hub), known before it starts:
# the schemathesis run names it in the document it collects its tests from.
RUNNING_HUB_PORT = None


def running_hub_port() -> int:
    global RUNNING_HUB_PORT
    if RUNNING_HUB_PORT is None:
        RUNNING_HUB_PORT = free_port()
    return RUNNING_HUB_PORT


def per_worker(name: str) -> str:
    """A PostgreSQL database or queue name of this pytest-xdist worker's own: two workers
    running system tests at once never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{name}_{worker}" if worker else name


def _hub_env(data_dir: Path, database: str, **extra: str) -> dict[str, str]:
    database = per_worker(database)
    env = {k: v for k, v in os.environ.items() if k not in ("A1111_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(HUB_DATA_DIR=str(data_dir), SIM_STEP_MS="5", HUB_WORKERS="2", PYTHONUNBUFFERED="1")
    if "DATABASE_URL" in env:  # PostgreSQL run: its own database, not the test runner's
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}"
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database], check=False
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    if "REDIS_URL" in env:  # its own queues, apart from the test runner's
        env["HUB_QUEUE_NAME"] = database
    env.update(extra)
    return env


def _start_runhub(data_dir: Path, database: str, port: int | None = None, **extra_env: str) -> dict:
    port = port or free_port()
    log_path = data_dir / "runhub.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runhub", "--port", str(port), "--web-workers", "1"],
        cwd=ROOT, env=_hub_env(data_dir, database, **extra_env), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"
    hub = {"base": base, "log": log_path, "process": process}
    try:
        hub["key"] = _wait_for_key(log_path, process)
        _wait_for(lambda: requests.get(f"{base}/health", timeout=2).status_code == 200, 60)
    except BaseException:
        _stop_runhub(hub)
        raise
    return hub


def _stop_runhub(hub: dict) -> None:
    process = hub["process"]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def _wait_for_key(log_path: Path, process) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if line.strip().startswith("hub_"):
                return line.strip()
        if process.poll() is not None:
            raise AssertionError(f"runhub exited:\n{log_path.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"runhub printed no key:\n{log_path.read_text()}")
