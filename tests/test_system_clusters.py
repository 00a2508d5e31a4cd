"""Two machines' worth of queue workers: two `qcluster` processes share one PostgreSQL and
one Redis, and one of them is killed with SIGKILL mid-queue. Every job ends (completed, or
failed with the true reason), and none runs twice. PostgreSQL + Redis only (the second
pass of `.ci/run`): the ORM broker on SQLite is one machine by nature."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from systemhelpers import fresh_database

from a1111sim.server import SimConfig, start_in_thread

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "hub_two_clusters"

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL), as in .ci/run's second pass",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_clusters_share_the_queue_and_one_dying_loses_nothing(tmp_path):
    sims = [start_in_thread(SimConfig(port=0, step_ms=60, swap_ms=0)) for _ in range(2)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        HUB_DATA_DIR=str(tmp_path),
        A1111_URL=",".join(s.url for s in sims),
        HUB_JOB_STALE_SECONDS="3",
        HUB_QUEUE_NAME=DATABASE,
        HUB_WORKERS="1",
        DATABASE_URL=env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DATABASE}",
    )
    migrated = fresh_database(tmp_path, DATABASE)
    manage = [sys.executable, "manage.py"]
    processes: list[subprocess.Popen] = []

    def start(command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)
        return process

    try:
        if not migrated:
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        key = subprocess.run(
            [*manage, "create_api_key", "t"], cwd=ROOT, env=env, check=True,
            capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        port = free_port()
        start([sys.executable, "-m", "gunicorn", "a1111hub.wsgi", "-b", f"127.0.0.1:{port}"])
        doomed = start([*manage, "qcluster"])
        start([*manage, "qcluster"])
        base, headers = f"http://127.0.0.1:{port}", {"X-API-Key": key}
        wait_for(lambda: requests.get(f"{base}/health", timeout=2).ok, 30, "the web server")
        job_ids = [
            requests.post(
                f"{base}/generate/txt2img", headers=headers, timeout=30,
                json={"user_id": f"u{i}", "prompt": "x", "steps": 20, "width": 64, "height": 64},
            ).json()["job_id"]
            for i in range(8)
        ]  # fmt: skip

        def statuses() -> Counter:
            return Counter(
                requests.get(f"{base}/jobs/{j}", headers=headers, timeout=10).json()["status"]
                for j in job_ids
            )

        wait_for(lambda: statuses()["running"] >= 1, 60, "a running job")
        os.killpg(doomed.pid, signal.SIGKILL)  # sentinel, pusher, workers: mid-queue
        doomed.wait()
        time.sleep(4)  # past HUB_JOB_STALE_SECONDS: the dead cluster's leases are stale
        subprocess.run(
            [*manage, "shell", "-c", "from generation_app.tasks import sweep; sweep()"],
            cwd=ROOT,
            env=env,
            check=True,
        )  # fmt: skip  (the housekeeping schedule's sweep, run now rather than in a minute)
        wait_for(lambda: statuses()["queued"] + statuses()["running"] == 0, 120, "every job to end")
        bodies = [
            requests.get(f"{base}/jobs/{j}", headers=headers, timeout=10).json() for j in job_ids
        ]
        for body in bodies:
            assert body["status"] == "completed" or (
                body["status"] == "failed" and "stopped responding" in body["message"]
            ), body
        assert sum(b["status"] == "completed" for b in bodies) >= 6  # the survivor ran the rest
        sent = Counter(
            h["task_id"]
            for sim in sims
            for h in requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]
        )
        assert sent and max(sent.values()) == 1  # no job reached A1111 twice
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for sim in sims:
            sim.shutdown()
