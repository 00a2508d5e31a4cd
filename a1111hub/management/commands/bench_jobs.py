"""Benchmark the hub's overhead on a generation, and GET /jobs/{id} throughput.

For each stack (SQLite + ORM broker; PostgreSQL + Redis when reachable) it starts the real
processes — gunicorn and qcluster — against a1111sim at --step-ms 0, then for each of N
jobs measures POST /generate/txt2img -> result readable, minus the time the same payload
takes sent straight to the simulator. Prints JSON and a short table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import requests
from django.conf import settings
from django.core.management.base import BaseCommand

from a1111hub.management.commands.runhub import WEB_THREADS, WEB_WORKERS

PAYLOAD = {
    "user_id": "bench",
    "prompt": "a lighthouse at dusk",
    "width": 64,
    "height": 64,
    "steps": 1,
}
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _hammer(url: str, headers: dict, seconds: float) -> int:
    """One client process: as many GETs as it can in `seconds`."""
    session, count = requests.Session(), 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.get(url, headers=headers).raise_for_status()
        count += 1
    return count


def _throughput(url: str, headers: dict, seconds: float) -> tuple[int, str]:
    """Requests per second for GET url: with wrk when installed (a C client leaves the two
    cores to the server), else with four Python client processes (which compete for them)."""
    if shutil.which("wrk"):
        header = [f"-H{k}: {v}" for k, v in headers.items()]
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", *header, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non_2xx:
            raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed responses:\n{out}")
        return round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))), "wrk -t2 -c16"
    with ProcessPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(_hammer, [url] * 4, [headers] * 4, [seconds] * 4))
    return round(sum(counts) / seconds), "4 python processes"


class Command(BaseCommand):
    help = "Measure the hub's per-job overhead and GET /jobs/{id} throughput (real processes)."

    def add_arguments(self, parser):
        parser.add_argument("--jobs", type=int, default=100)
        parser.add_argument("--seconds", type=float, default=5.0, help="Throughput test length.")
        parser.add_argument("--json", dest="json_path", default="", help="Also write JSON here.")

    def handle(self, *args, jobs: int, seconds: float, json_path: str, **opts):
        sim = subprocess.Popen(
            [sys.executable, "-m", "a1111sim", "--port", "0", "--step-ms", "0", "--swap-ms", "0"],
            stdout=subprocess.PIPE, text=True, cwd=settings.BASE_DIR, start_new_session=True,
        )  # fmt: skip
        sim_url = sim.stdout.readline().strip().rsplit(" ", 1)[-1]
        results = []
        try:
            for name, extra_env in self._stacks():
                self.stderr.write(f"== {name}")
                results.append(self._bench_stack(name, extra_env, sim_url, jobs, seconds))
        finally:
            os.killpg(sim.pid, signal.SIGTERM)
            sim.wait()
        report = {"machine": f"{os.cpu_count()} cores", "jobs": jobs, "stacks": results}
        self.stdout.write(json.dumps(report, indent=2))
        self.stdout.write(self._table(results))
        if json_path:
            Path(json_path).write_text(json.dumps(report, indent=2))

    def _stacks(self):
        yield "sqlite+orm", {}
        try:
            import psycopg
            import redis

            psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=2).close()
            redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        except Exception as exc:  # either service missing: skip that stack, say so
            self.stderr.write(f"PostgreSQL + Redis stack skipped: {exc}")
            return
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "hub_bench"], check=False
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "hub_bench"], check=True)
        yield (
            "postgres+redis",
            {
                "DATABASE_URL": f"{POSTGRES_URL}/hub_bench",
                "REDIS_URL": REDIS_URL,
                "HUB_QUEUE_NAME": "hub-bench",
            },
        )

    def _bench_stack(self, name, extra_env, sim_url, jobs, seconds) -> dict:
        data_dir = tempfile.mkdtemp(prefix="hub-bench-")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        }
        env.update(
            HUB_DATA_DIR=data_dir,
            A1111_URL=sim_url,
            HUB_MAX_ACTIVE_JOBS_PER_USER="1000",
            # The bench's one key polls far faster than a client would: no rate limit.
            HUB_RATE_LIMIT="10000000/min",
            HUB_GENERATION_RATE_LIMIT="10000000/min",
            **extra_env,
        )
        manage = [sys.executable, "manage.py"]
        cwd = settings.BASE_DIR
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=cwd, check=True)
        key = subprocess.run([*manage, "create_api_key", "bench"], env=env, cwd=cwd, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
        port = _free_port()
        procs = [
            subprocess.Popen([sys.executable, "-m", "gunicorn", "a1111hub.wsgi", "-b", f"127.0.0.1:{port}",
                              "-w", str(WEB_WORKERS), "-k", "gthread", "--threads", str(WEB_THREADS)],
                             env=env, cwd=cwd, start_new_session=True, stderr=subprocess.DEVNULL),
            subprocess.Popen([*manage, "qcluster"], env=env, cwd=cwd, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]  # fmt: skip
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        try:
            self._wait_up(base)
            session = requests.Session()
            session.headers.update(headers)
            for _ in range(5):  # warm up: connections, caches, first-job costs
                self._one_job(session, base, sim_url)
            hub_times, direct_times = [], []
            for _ in range(jobs):
                direct_times.append(self._direct(sim_url))
                hub_times.append(self._one_job(session, base, sim_url))
            overheads = [h - d for h, d in zip(hub_times, direct_times, strict=True)]
            job_id = session.post(f"{base}/generate/txt2img", json=PAYLOAD).json()["job_id"]
            throughput, tool = _throughput(f"{base}/jobs/{job_id}", headers, seconds)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        ms = [o * 1000 for o in overheads]
        return {
            "stack": name,
            "overhead_ms_median": round(statistics.median(ms), 1),
            "overhead_ms_p95": round(_percentile(ms, 95), 1),
            "hub_total_ms_median": round(statistics.median(hub_times) * 1000, 1),
            "direct_ms_median": round(statistics.median(direct_times) * 1000, 1),
            "get_job_requests_per_s": throughput,
            "load_tool": tool,
        }

    @staticmethod
    def _wait_up(base: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the hub did not come up")

    @staticmethod
    def _direct(sim_url: str) -> float:
        body = {k: v for k, v in PAYLOAD.items() if k != "user_id"}
        start = time.perf_counter()
        requests.post(f"{sim_url}/sdapi/v1/txt2img", json=body, timeout=30).raise_for_status()
        return time.perf_counter() - start

    @staticmethod
    def _one_job(session: requests.Session, base: str, sim_url: str) -> float:
        start = time.perf_counter()
        created = session.post(f"{base}/generate/txt2img", json=PAYLOAD)
        if created.status_code != 202:
            raise RuntimeError(f"POST /generate/txt2img: {created.status_code} {created.text}")
        job_id = created.json()["job_id"]
        while True:
            response = session.get(f"{base}/jobs/{job_id}/result", params={"format": "url"})
            if response.status_code == 200:
                return time.perf_counter() - start
            if response.json().get("status") in ("failed", "cancelled"):
                raise RuntimeError(f"bench job {job_id} ended {response.json()}")
            time.sleep(0.002)

    @staticmethod
    def _table(results: list[dict]) -> str:
        lines = [
            "",
            f"{'stack':<16}{'overhead median':>17}{'p95':>9}{'hub total':>11}{'direct':>9}{'GET /jobs/{id}':>17}",
        ]
        for r in results:
            lines.append(
                f"{r['stack']:<16}{r['overhead_ms_median']:>14} ms{r['overhead_ms_p95']:>6} ms"
                f"{r['hub_total_ms_median']:>8} ms{r['direct_ms_median']:>6} ms{r['get_job_requests_per_s']:>11} req/s"
            )
        return "\n".join(lines)
