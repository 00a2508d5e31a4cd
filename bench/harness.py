"""What the benchmarks share: Django set-up, a1111sim and hub processes on a temporary data
folder, the PostgreSQL + Redis stack, waiting, the GET load generator, the figures' helpers
and the report (JSON on stdout, a table, optionally a JSON file).

Nothing here imports the hub's apps at module level, so ``python -m bench.<name>`` can
parse its options before Django is set up; what needs Django imports it inside.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent  # the project: manage.py, a1111sim
MANAGE = [sys.executable, "manage.py"]
HUB_SETTINGS = "a1111hub.settings"
# The hub's settings with the baseline view added (bench.urls): for the scheduler bench.
BENCH_SETTINGS = "bench.settings"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
SYSTEM_DATABASES = ("postgres", "template0", "template1")
SIM_STEP_MS = 100
JOB_STEPS = 10  # at SIM_STEP_MS: one-second jobs
SCENARIO_TIMEOUT = 120.0  # no wait for jobs lasts longer than this


def setup_django() -> None:
    """What manage.py does before a command runs: settings (DJANGO_SETTINGS_MODULE,
    a1111hub.settings by default), the data folder, then the app registry."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", HUB_SETTINGS)
    from a1111hub.datadir import prepare_data_dir

    prepare_data_dir()
    import django

    django.setup()


def web_shape() -> tuple[int, int]:
    """runhub's gunicorn: (worker processes, threads each). Needs Django set up."""
    from a1111hub.management.commands.runhub import WEB_THREADS, WEB_WORKERS

    return WEB_WORKERS, WEB_THREADS


# --- output -------------------------------------------------------------------------------
def log(message: str) -> None:
    """Progress and problems: stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """`python -m bench.<name>`'s options, starting with the one every benchmark has."""
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    p.add_argument("--json", dest="json_path", default="", help="Also write JSON here.")
    return p


def write_json(path: str, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=str))


def report(data: dict, json_path: str = "", table: Iterable[str] = ()) -> None:
    """The figures as JSON on stdout, then the table's lines; the JSON also to json_path."""
    print(json.dumps(data, indent=2, default=str))
    for line in table:
        print(line)
    if json_path:
        write_json(json_path, data)


# --- figures --------------------------------------------------------------------------------
def ts(value: str | None) -> float | None:
    """An API timestamp (ISO 8601) as epoch seconds."""
    return datetime.fromisoformat(value).timestamp() if value else None


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank value at pct (0-100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def ratio(measured: float, reference: float, digits: int = 3) -> float:
    return round(measured / reference, digits)


def _hammer(url: str, headers: dict, seconds: float) -> int:
    """One client process: as many GETs as it can in `seconds`."""
    session, count = requests.Session(), 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session.get(url, headers=headers).raise_for_status()
        count += 1
    return count


def requests_per_second(url: str, headers: dict, seconds: float) -> tuple[int, str]:
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


def job_vs_minimal(job_url: str, minimal_url: str, headers: dict, seconds: float) -> dict:
    """GET /jobs/{id} against a baseline view, interleaved, two rounds of `seconds` each:
    the mean requests per second of both, their ratio and every run."""
    urls = {"jobs": job_url, "minimal": minimal_url}
    measured: dict[str, list[int]] = {"jobs": [], "minimal": []}
    tool = ""
    for _ in range(2):
        for name in ("minimal", "jobs"):
            rps, tool = requests_per_second(urls[name], headers, seconds)
            measured[name].append(rps)
    jobs_rps, minimal_rps = (sum(measured[n]) / len(measured[n]) for n in ("jobs", "minimal"))
    return {
        "jobs_rps": round(jobs_rps),
        "minimal_rps": round(minimal_rps),
        "runs": measured,
        "ratio": ratio(jobs_rps, minimal_rps),
        "load_tool": tool,
        "seconds_each": seconds,
    }


# --- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check() every 0.2 s (a connection error counts as not yet) until it is true."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(what)
        time.sleep(0.2)


def stop_groups(procs: list[subprocess.Popen], timeout: float) -> None:
    """SIGTERM each process group (each was started with a session of its own), wait,
    SIGKILL what is still there after `timeout` seconds."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Sims:
    """a1111sim subprocesses, started together, stopped together."""

    def __init__(self, count: int, swap_ms: int = 0, step_ms: int = SIM_STEP_MS):
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "a1111sim",
                    "--port",
                    "0",
                    "--step-ms",
                    str(step_ms),
                    "--swap-ms",
                    str(swap_ms),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip
            for _ in range(count)
        ]
        try:
            self.urls = [p.stdout.readline().strip().rsplit(" ", 1)[-1] for p in self.procs]
            if not all(u.startswith("http://") for u in self.urls):
                raise RuntimeError(f"a1111sim did not start: {self.urls}")
        except BaseException:
            self.stop()
            raise

    def state(self, url: str) -> dict:
        return requests.get(f"{url}/sim/state", timeout=10).json()

    def stop(self) -> None:
        stop_groups(self.procs, timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def fresh_postgres_database(url: str, default_name: str) -> str:
    """Drop and create the database `url` names (default_name when it names none, or a
    system database) on that server; its URL."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or default_name
    if name in SYSTEM_DATABASES:
        name = default_name
    conn = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    conn += ["-U", parts.username or "postgres"]
    subprocess.run(["dropdb", *conn, "--if-exists", name], check=False)
    subprocess.run(["createdb", *conn, name], check=True)
    return urlunsplit(parts._replace(path=f"/{name}"))


def stack_from_env(default_database: str) -> tuple[str, dict]:
    """The stack this run measures: PostgreSQL + Redis when DATABASE_URL is set (a database
    of its own on that server, created afresh; REDIS_URL or the local Redis), else SQLite
    and the ORM broker in the hub's temporary data folder. (name, the hub's environment)"""
    if not os.environ.get("DATABASE_URL"):
        return "sqlite+orm", {}
    return "postgres+redis", {
        "DATABASE_URL": fresh_postgres_database(os.environ["DATABASE_URL"], default_database),
        "REDIS_URL": os.environ.get("REDIS_URL") or REDIS_URL,
    }


class Hub:
    """gunicorn (runhub's workers and threads), the generation qcluster and (unless
    housekeeping=False) the housekeeping qcluster, started like runhub starts them, on a
    temporary HUB_DATA_DIR with one API key and no rate limits. The processes' output goes
    to web.log, gen.log and hk.log in that folder. Needs Django set up (for web_shape)."""

    def __init__(
        self,
        name: str,
        extra_env: dict,
        settings_module: str = HUB_SETTINGS,
        housekeeping: bool = True,
    ):
        self.workers, self.threads = web_shape()
        self.data_dir = tempfile.mkdtemp(prefix=f"hub-bench-{name}-")
        self.key_name = f"bench-{name}"
        self.housekeeping = housekeeping
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "A1111_URL")
        }
        env.update(
            DJANGO_SETTINGS_MODULE=settings_module,
            HUB_DATA_DIR=self.data_dir,
            HUB_MAX_ACTIVE_JOBS_PER_USER="1000",
            HUB_QUEUE_NAME=f"bench-{name}-{os.getpid()}",
            LORA_SCAN_ON_START="false",
            # The bench's one key sends far more than a client would: no rate limit.
            HUB_RATE_LIMIT="10000000/min",
            HUB_GENERATION_RATE_LIMIT="10000000/min",
        )
        env.update(extra_env)  # the stack's, the benchmark's own: they may override these
        self.env = env
        self.manage = MANAGE
        self.cwd = ROOT
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        run = dict(env=self.env, cwd=self.cwd, check=True)
        subprocess.run([*self.manage, "migrate", "-v0"], **run)
        out = subprocess.run([*self.manage, "create_api_key", self.key_name], **run,
                             capture_output=True, text=True).stdout  # fmt: skip
        self.key = out.strip().splitlines()[-1]
        port = free_port()
        folder = Path(self.data_dir)
        argv = {
            "web": [sys.executable, "-m", "gunicorn", "a1111hub.wsgi:application",
                    "-b", f"127.0.0.1:{port}", "-w", str(self.workers), "-k", "gthread",
                    "--threads", str(self.threads), "--timeout", "120"],
            "gen": [*self.manage, "qcluster"],
        }  # fmt: skip
        envs = {"web": self.env, "gen": self.env}
        if self.housekeeping:
            argv["hk"] = [*self.manage, "qcluster"]
            envs["hk"] = {
                **self.env,
                "Q_CLUSTER_NAME": f"{self.env['HUB_QUEUE_NAME']}-housekeeping",
            }
        for name, command in argv.items():  # in this order: procs[0] web, [1] generation
            with open(folder / f"{name}.log", "w") as out:
                self.procs.append(
                    subprocess.Popen(command, env=envs[name], cwd=self.cwd, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
                )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.session = requests.Session()
        self.session.headers.update(self.headers)
        # /health may say 503 (no backend yet): GET /queue answering means it is up
        wait_until(
            lambda: self.session.get(f"{self.base}/queue", timeout=2).status_code == 200,
            60,
            "the hub did not come up",
        )

    def stop(self) -> None:
        stop_groups(self.procs, timeout=20)

    # --- the API, as a client uses it ------------------------------------------------
    def use_backends(self, urls: list[str]) -> None:
        """Make these the only enabled backends, probed (so the loaded model is known)."""
        subprocess.run([sys.executable, "-m", "bench.harness", "set-backends", *urls],
                       env=self.env, cwd=self.cwd, check=True)  # fmt: skip
        self.warm_up(len(urls))

    def warm_up(self, backends: int) -> None:
        """The model listing in every web process, a one-step job per backend, and a few
        reads: the first job on a new backend pays the hub's one-off costs (its model
        listing fetched, code imported in each worker),
        which are not what the scenarios measure. Measured once, kept in first_job_s."""
        connections = self.workers * self.threads

        # Each web process keeps its own model listing (SQLite: a local-memory cache): ask
        # from many connections at once, so every process lists the new backends now.
        def models(_):
            with requests.Session() as fresh:
                fresh.headers.update(self.headers)
                fresh.get(f"{self.base}/models", timeout=60)

        with ThreadPoolExecutor(max_workers=connections) as pool:
            list(pool.map(models, range(connections * 2)))
        start = time.time()
        ids = [self.submit("warm-up", steps=1) for _ in range(max(backends, self.workers))]
        self.wait_idle()
        self.first_job_s = max(ts(j["finished_at"]) for j in self.finished(ids)) - start
        for job_id in ids:
            self.job(job_id)

    def submit(self, user: str, steps: int = JOB_STEPS, session=None, **extra) -> str:
        body = {"user_id": user, "prompt": "a lighthouse", "width": 64, "height": 64,
                "steps": steps, **extra}  # fmt: skip
        response = (session or self.session).post(f"{self.base}/generate/txt2img", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"POST /generate/txt2img: {response.status_code} {response.text}")
        return response.json()["job_id"]

    def job(self, job_id: str) -> dict:
        return self.session.get(f"{self.base}/jobs/{job_id}").json()

    def wait_idle(self, timeout: float = SCENARIO_TIMEOUT) -> None:
        """Until nothing is queued or running (GET /queue: one cheap call per poll)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queue = self.session.get(f"{self.base}/queue").json()
            if queue["queued"] == 0 and queue["running"] == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"jobs still queued or running after {timeout} s")

    def finished(self, ids: list[str]) -> list[dict]:
        jobs = [self.job(i) for i in ids]
        bad = [(j["job_id"], j["status"], j["message"]) for j in jobs if j["status"] != "completed"]
        if bad:
            raise RuntimeError(f"bench jobs did not complete: {bad[:3]}")
        return jobs


def set_backends(urls: list[str]) -> None:
    """Disable every backend but these; sync and probe these (in the hub's environment)."""
    from backends.models import Backend
    from backends.registry import probe, record_probe, sync_configured_backends

    Backend.objects.exclude(url__in=urls).update(enabled=False)
    for backend in sync_configured_backends(urls):
        record_probe(backend, probe(backend))


if __name__ == "__main__":  # Hub.use_backends: python -m bench.harness set-backends URL...
    if sys.argv[1:2] != ["set-backends"] or len(sys.argv) < 3:
        sys.exit("usage: python -m bench.harness set-backends URL [URL ...]")
    setup_django()
    set_backends(sys.argv[2:])
