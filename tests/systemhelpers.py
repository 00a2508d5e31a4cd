"""Start and stop a real hub (`manage.py runhub` with the built-in simulator) on a temporary
database: shared by the system tests, the generated-client test and the schemathesis run."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The shared hub of a test run (tests/conftest.py running_hub): one for every pytest-xdist
# worker, started by the first that needs it and stopped when the run ends. Its port is
# chosen before the workers start (the schemathesis run names it in the document it
# collects its tests from), and its state is kept in a folder of the run's.
SHARED_DIR_ENV = "HUB_TESTS_SHARED_DIR"
RUNNING_HUB_PORT_ENV = "HUB_TESTS_RUNNING_HUB_PORT"


def prepare_shared_run() -> None:
    """In the process that starts the run (the xdist controller, or the only process):
    the shared folder and the hub's port, inherited by the workers it starts."""
    if SHARED_DIR_ENV not in os.environ:
        os.environ[SHARED_DIR_ENV] = tempfile.mkdtemp(prefix="hub-tests-")
    if RUNNING_HUB_PORT_ENV not in os.environ:
        os.environ[RUNNING_HUB_PORT_ENV] = str(free_port())


def running_hub_port() -> int:
    prepare_shared_run()  # a process started some other way chooses for itself
    return int(os.environ[RUNNING_HUB_PORT_ENV])


def shared_folder(create: bool = True) -> Path | None:
    """The run's shared folder; made here if the process has none (unless not ``create``:
    then None)."""
    if create:
        prepare_shared_run()
    folder = os.environ.get(SHARED_DIR_ENV)
    return Path(folder) if folder else None


@contextlib.contextmanager
def shared_lock(folder: Path, name: str) -> Iterator[None]:
    """Held by one process of the run at a time (every worker's), released at exit even if
    the process dies."""
    with (folder / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def postgres(tool: str, *args: str, check: bool = True) -> None:
    """A PostgreSQL client tool (createdb, dropdb) against the local server."""
    subprocess.run([tool, "-h", "127.0.0.1", "-U", "postgres", *args], check=check,
                   capture_output=True)  # fmt: skip


def shared_running_hub(**extra_env: str) -> dict:
    """The run's shared hub: started here if no worker has started it yet (a lock keeps
    two from starting it at once). One per worker cost each a migration and a whole hub's
    processes."""
    shared = shared_folder()
    with shared_lock(shared, "running-hub"):
        state = shared / "running-hub.json"
        if state.exists():
            return json.loads(state.read_text())
        data_dir = shared / "running-hub"
        data_dir.mkdir()
        hub = _start_runhub(data_dir, "hub_clients", running_hub_port(), **extra_env)
        shared_state = {"base": hub["base"], "key": hub["key"], "log": str(hub["log"]),
                        "pid": hub["process"].pid}  # fmt: skip
        state.write_text(json.dumps(shared_state))
        return shared_state


def stop_shared_running_hub() -> None:
    """When the run ends: stop the shared hub, if a worker started one (it is not a child
    of this process: its worker has ended)."""
    shared = shared_folder(create=False)
    if shared is None:
        return
    state = shared / "running-hub.json"
    if state.exists():
        pid = json.loads(state.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 40
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(shared, ignore_errors=True)


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
    fresh_database(data_dir, database if "DATABASE_URL" in env else None)
    if "REDIS_URL" in env:  # its own queues, apart from the test runner's
        env["HUB_QUEUE_NAME"] = database
    env.update(extra)
    return env


def fresh_database(data_dir: Path, database: str | None) -> bool:
    """A new database for a hub a test starts: a copy of the run's migrated template where
    there is one (its migrate then has nothing to do: True), else an empty one. ``database``:
    the PostgreSQL database's name, None on SQLite (the hub's file in ``data_dir``)."""
    from dbhelpers import copy_template

    if database is not None:
        postgres("dropdb", "--if-exists", database, check=False)
    if copy_template(data_dir, database or ""):
        return True
    if database is not None:
        postgres("createdb", database)
    return False


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
