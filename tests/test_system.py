"""System tests: the real processes (runhub -> gunicorn + qcluster + a1111sim) on a temporary
database, driven over HTTP the way a user would, with the brief's own client code."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image
from systemhelpers import (
    ROOT,
    _start_runhub,
    _stop_runhub,
    _wait_for,
    free_port,
    fresh_database,
    per_worker,
)


def _children_of(pid: int) -> dict[int, tuple[str, dict]]:
    """Live child processes of ``pid``: their command line and environment (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = dict(
                item.split("=", 1)
                for item in (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        found[int(entry.name)] = (cmdline, environ)
    return found


def _alive_in_group(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """`manage.py runhub` with no A1111 named and none answering: it starts the simulator."""
    hub = _start_runhub(tmp_path_factory.mktemp("hub-data"), "hub_system")
    yield hub
    _stop_runhub(hub)


def test_runhub_starts_the_simulator_and_says_so(hub):
    log = hub["log"].read_text()
    assert "SIMULATOR" in log
    public = requests.get(f"{hub['base']}/health", timeout=10).json()
    assert public["status"] == "ok" and public["simulator"] is True
    headers = {"Authorization": f"Bearer {hub['key']}"}
    health = requests.get(f"{hub['base']}/health", headers=headers, timeout=10).json()
    assert health["backends"][0]["is_simulator"] is True


def test_models_needs_the_printed_key_and_shows_the_simulators_checkpoints(hub):
    assert requests.get(f"{hub['base']}/models", timeout=10).status_code == 401
    models = requests.get(
        f"{hub['base']}/models", headers={"Authorization": f"Bearer {hub['key']}"}, timeout=10
    ).json()
    assert any(c["title"].startswith("animefull_final.safetensors") for c in models["checkpoints"])


def test_a_kept_alive_connection_outlasts_a_2_s_poll(hub):
    """The brief's loop polls every 2 s on one connection (a requests.Session): the server
    must not close it in between (gunicorn's default keep-alive is 2 s, a race the client
    loses as RemoteDisconnected). One HTTP/1.1 connection, never reopened, three polls."""
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    address = urlsplit(hub["base"])
    connection = HTTPConnection(address.hostname, address.port, timeout=10)
    headers = {"Authorization": f"Bearer {hub['key']}"}
    try:
        for _ in range(3):
            connection.request("GET", "/queue", headers=headers)
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Connection") != "close"
            response.read()
            time.sleep(2.5)
        local = connection.sock.getsockname()
        connection.request("GET", "/queue", headers=headers)
        assert connection.getresponse().status == 200
        assert connection.sock.getsockname() == local  # the same socket all along
    finally:
        connection.close()


def test_docs_render(hub):
    response = requests.get(f"{hub['base']}/docs", timeout=10)
    assert response.status_code == 200 and "swagger" in response.text.lower()
    assert requests.get(f"{hub['base']}/openapi.json", timeout=10).json()["info"]["title"]


def test_the_briefs_basic_generation_and_polling_examples_run_as_written(hub):
    """ "Basic Text Generation" and "Check Job Status" from the brief, with a key added."""
    headers = {"Authorization": f"Bearer {hub['key']}"}
    base = hub["base"]
    _wait_for(
        lambda: (
            requests.get(f"{base}/loras?search=character", headers=headers, timeout=5).json()[
                "count"
            ]
            > 0
        ),
        60,
    )

    # Add LoRA to session
    added = requests.post(f"{base}/sessions/user123/loras", headers=headers, json={
        "filename": "character_lora.safetensors",
        "weight": 0.8
    })  # fmt: skip
    assert added.status_code in (200, 201), added.text

    # Generate image
    response = requests.post(f"{base}/generate/txt2img", headers=headers, json={
        "user_id": "user123",
        "prompt": "beautiful anime girl, detailed face",
        "negative_prompt": "low quality, blurry",
        "checkpoint": "animefull_final.safetensors",
        "width": 512,
        "height": 768,
        "steps": 20,
        "cfg_scale": 7.0,
        "sampler_name": "DPM++ 2M Karras"
    })  # fmt: skip
    job_id = response.json()["job_id"]

    images = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = requests.get(f"{base}/jobs/{job_id}", headers=headers).json()
        print(f"Status: {status['status']}, Progress: {status.get('progress', 0):.1%}")
        if status["status"] == "completed":
            result = requests.get(f"{base}/jobs/{job_id}/result", headers=headers).json()
            images = result["images"]  # Base64 encoded images
            break
        elif status["status"] == "failed":
            print(f"Generation failed: {status.get('message')}")
            break
        time.sleep(0.2)

    assert images, status
    picture = Image.open(io.BytesIO(base64.b64decode(images[0])))
    assert picture.format == "PNG" and picture.size == (512, 768)
    assert "<lora:character_lora:0.8>" in result["info"]["prompt"]


def test_a_killed_worker_leaves_no_job_running(tmp_path):
    """A qcluster killed mid-job: the sweep fails the job instead of leaving it `running`."""
    from a1111sim.server import SimConfig, start_in_thread

    sim = start_in_thread(SimConfig(port=0, step_ms=200, swap_ms=0))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        HUB_DATA_DIR=str(tmp_path), A1111_URL=sim.url, HUB_JOB_STALE_SECONDS="2", HUB_WORKERS="1"
    )
    database = per_worker("hub_sweep")
    if "DATABASE_URL" in env:
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{database}"
    migrated = fresh_database(tmp_path, database if "DATABASE_URL" in env else None)
    if "REDIS_URL" in env:
        env["HUB_QUEUE_NAME"] = database
    manage = [sys.executable, "manage.py"]
    processes: list[subprocess.Popen] = []
    try:
        if not migrated:
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        key = (
            subprocess.run(
                [*manage, "create_api_key", "t"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        for command in (
            [*manage, "qcluster"],
            [sys.executable, "-m", "gunicorn", "a1111hub.wsgi", "-b", f"127.0.0.1:{port}"],
        ):
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        cluster = processes[0]
        base, headers = f"http://127.0.0.1:{port}", {"X-API-Key": key}
        _wait_for(lambda: requests.get(f"{base}/health", timeout=2).ok, 30)
        job_id = requests.post(
            f"{base}/generate/txt2img", headers=headers,
            json={"user_id": "u", "prompt": "long", "steps": 150, "width": 64, "height": 64},
        ).json()["job_id"]  # fmt: skip
        _wait_for(
            lambda: (
                requests.get(f"{base}/jobs/{job_id}", headers=headers).json()["status"] == "running"
            ),
            30,
        )
        os.killpg(cluster.pid, signal.SIGKILL)  # the whole cluster: sentinel, pusher, workers
        cluster.wait()
        time.sleep(3)
        subprocess.run([*manage, "shell", "-c", "from generation_app.tasks import sweep; sweep()"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        status = requests.get(f"{base}/jobs/{job_id}", headers=headers).json()
        assert status["status"] == "failed" and "stopped responding" in status["message"]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        sim.shutdown()


def test_runhub_restarts_a_dead_queue_cluster_and_leaves_no_orphans(tmp_path):
    hub = _start_runhub(tmp_path, "hub_supervise")
    try:
        children = _children_of(hub["process"].pid)
        groups = list(children)  # each child leads a process group of its own
        (generation,) = [
            pid
            for pid, (cmd, environ) in children.items()
            if "qcluster" in cmd and "Q_CLUSTER_NAME" not in environ
        ]
        os.kill(generation, signal.SIGKILL)
        _wait_for(lambda: "restarting it" in hub["log"].read_text(), 30)
        headers = {"X-API-Key": hub["key"]}
        assert requests.get(f"{hub['base']}/health", timeout=5).status_code == 200  # still up
        job_id = requests.post(
            f"{hub['base']}/generate/txt2img", headers=headers,
            json={"user_id": "u", "prompt": "x", "width": 64, "height": 64, "steps": 4},
        ).json()["job_id"]  # fmt: skip
        _wait_for(
            lambda: (
                requests.get(f"{hub['base']}/jobs/{job_id}", headers=headers).json()["status"]
                == "completed"
            ),
            60,
        )
        groups += list(_children_of(hub["process"].pid))
    finally:
        _stop_runhub(hub)
    assert hub["process"].returncode == 0
    assert [pid for group in set(groups) for pid in _alive_in_group(group)] == []


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = _children_of(todo.pop())
        found |= set(children)
        todo += list(children)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_runhub_stops_within_5_s_of_sigterm_and_leaves_no_child(tmp_path):
    hub = _start_runhub(tmp_path, "hub_sigterm")
    family = _descendants(hub["process"].pid)
    assert len(family) >= 5  # guards, gunicorn and its worker, two clusters, the simulator
    started = time.monotonic()
    hub["process"].send_signal(signal.SIGTERM)
    hub["process"].wait(timeout=30)
    took = time.monotonic() - started
    _wait_for(lambda: not _alive(family), 5)
    assert took < 5, f"runhub took {took:.1f} s to stop"


def test_a_sigkilled_runhub_takes_every_child_with_it_within_5_s(tmp_path):
    hub = _start_runhub(tmp_path, "hub_sigkill")
    family = _descendants(hub["process"].pid)
    assert len(family) >= 5
    os.kill(hub["process"].pid, signal.SIGKILL)
    hub["process"].wait(timeout=10)
    try:
        _wait_for(lambda: not _alive(family), 5)
    finally:
        for pid in _alive(family):  # whatever the check found left, so no test leaks it
            os.kill(pid, signal.SIGKILL)
