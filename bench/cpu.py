"""What a job costs the hub itself: CPU seconds of the web and queue processes (not wall
time) per job, the CPU an idle hub burns per second, and GET /jobs/{id} of a completed job
against a raw minimal Django view.

Real processes (gunicorn with runhub's settings, the generation and housekeeping qclusters,
four a1111sim backends), started by bench.harness; SQLite + the ORM broker by default,
PostgreSQL + Redis when DATABASE_URL is set.

- idle: the hub with four probed backends and nothing to do, for --idle-seconds;
- per job: --jobs txt2img jobs at 512², 20 steps (2 s each on the simulator), submitted at the
  farm's pace (one per 0.5 s: four backends finish two a second); a client polls each job
  once a second until it ends, then fetches its result once (the brief's client: base64
  images). The hub's CPU over the whole run, divided by the jobs;
- hot read: wrk on GET /jobs/{id} of a completed job and on bench.minimal's view (a raw SQL
  key check and one row, no middleware, the same gunicorn settings), interleaved;
- calibration: the minimal view's CPU per request, asked 50 times a second while the jobs
  run; the CPU per job is also given in those units, which stay put when the machine's
  speed drifts.

    python -m bench.cpu [--jobs 100] [--idle-seconds 30] [--seconds 5] [--json FILE]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.harness import (
    Hub,
    Sims,
    free_port,
    job_vs_minimal,
    log,
    parser,
    report,
    setup_django,
    stack_from_env,
    stop_groups,
    wait_until,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
JOB = {"width": 512, "height": 512, "steps": 20}
SIM_STEP_MS = 100  # 20 steps: two-second jobs
BACKENDS = 4
PROCESSES = ["web", "generation", "housekeeping"]  # Hub.procs, in order


def _per(used: dict, count: float) -> dict:
    return {
        name: round(seconds * 1000 / count, 1) for name, seconds in used.items() if name != "total"
    }


def session_cpu_seconds(leaders: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of every process in each of these sessions, with the
    children they have already reaped: gunicorn's workers, a qcluster's pusher, workers and
    monitor. {session leader: seconds}"""
    ticks = dict.fromkeys(leaders, 0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # after the command: state ppid pgrp session ... utime(11) stime cutime cstime
        if int(fields[3]) in ticks:
            ticks[int(fields[3])] += sum(int(value) for value in fields[11:15])
    return {leader: count / CLOCK_TICKS for leader, count in ticks.items()}


def cpu_used(before: dict[int, float], after: dict[int, float], names: list[str]) -> dict:
    """Seconds used between two readings, per process group and in all."""
    used = {name: after[pid] - before[pid] for name, pid in zip(names, before, strict=True)}
    return {"total": sum(used.values()), **used}


class CpuBench:
    def __init__(self, profile_dir: str = ""):
        self.profile_dir = profile_dir

    def run(self, jobs: int, idle_seconds: float, seconds: float) -> dict:
        stack, extra = stack_from_env("bench_cpu")
        hub = Hub("cpu", extra)
        log(f"== bench.cpu on {stack}: {jobs} jobs, {BACKENDS} backends")
        with Sims(BACKENDS, step_ms=SIM_STEP_MS) as sims:
            try:
                hub.start()
                hub.use_backends(sims.urls)
                leaders = [proc.pid for proc in hub.procs]
                minimal = MinimalServer(hub.env)
                minimal.start()
                try:
                    time.sleep(3)  # let the warm-up's tail settle
                    with Profiler(self.profile_dir, "idle", leaders):
                        idle = self.idle(leaders, idle_seconds)
                    with (
                        Profiler(self.profile_dir, "jobs", leaders),
                        Calibration(minimal, hub.headers) as unit,
                    ):
                        per_job = self.per_job(hub, leaders, jobs)
                    hot = self.hot_read(hub, minimal, per_job.pop("done_job"), seconds)
                finally:
                    minimal.stop()
            finally:
                hub.stop()
        calibration = {
            "minimal_cpu_ms_per_request": unit.ms_per_request,
            "requests": unit.count,
            "per_job_in_minimal_requests": round(
                per_job["cpu_ms_per_job"] / unit.ms_per_request, 1
            ),
        }
        return {
            "stack": stack,
            "idle": idle,
            "per_job": per_job,
            "calibration": calibration,
            "hot_read": hot,
        }

    @staticmethod
    def idle(leaders: list[int], seconds: float) -> dict:
        before = session_cpu_seconds(leaders)
        time.sleep(seconds)
        used = cpu_used(before, session_cpu_seconds(leaders), PROCESSES)
        return {
            "seconds": seconds,
            "cpu_ms_per_second": round(used["total"] * 1000 / seconds, 1),
            "by_process_ms_per_second": _per(used, seconds),
        }

    @staticmethod
    def per_job(hub: Hub, leaders: list[int], jobs: int) -> dict:
        failures: list[str] = []
        polls = [0]
        lock = threading.Lock()

        def client(index: int) -> None:
            """One user: submit, poll once a second, fetch the result once."""
            with requests.Session() as session:
                session.headers.update(hub.headers)
                job_id = hub.submit(f"cpu-u{index % 10}", session=session, **JOB)
                while True:
                    time.sleep(1)
                    body = session.get(f"{hub.base}/jobs/{job_id}").json()
                    with lock:
                        polls[0] += 1
                    if body["status"] not in ("queued", "running"):
                        break
                if body["status"] != "completed":
                    failures.append(f"{job_id}: {body['status']} {body.get('message')}")
                    return
                result = session.get(f"{hub.base}/jobs/{job_id}/result")
                if result.status_code != 200 or not result.json()["images"]:
                    failures.append(f"{job_id}: result {result.status_code}")
                    return
                done.append(job_id)

        done: list[str] = []
        before = session_cpu_seconds(leaders)
        started = time.monotonic()
        threads = []
        for index in range(jobs):
            thread = threading.Thread(target=client, args=(index,))
            thread.start()
            threads.append(thread)
            time.sleep(0.5)
        for thread in threads:
            thread.join(timeout=300)
        wall = time.monotonic() - started
        used = cpu_used(before, session_cpu_seconds(leaders), PROCESSES)
        if failures or len(done) != jobs:
            raise RuntimeError(f"{jobs - len(done)} jobs did not complete: {failures[:3]}")
        return {
            "jobs": jobs,
            "job": JOB,
            "polls": polls[0],
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(used["total"], 2),
            "cpu_ms_per_job": round(used["total"] * 1000 / jobs, 1),
            "by_process_ms_per_job": _per(used, jobs),
            "done_job": done[-1],
        }

    @staticmethod
    def hot_read(hub: Hub, minimal: MinimalServer, job_id: str, seconds: float) -> dict:
        """GET /jobs/{id} of a completed job against the raw minimal view, two rounds each."""
        return job_vs_minimal(
            f"{hub.base}/jobs/{job_id}", f"{minimal.base}/jobs/{job_id}", hub.headers, seconds
        )


class Profiler:
    """py-spy (when --profile DIR is given) on each process group while the jobs run: one
    collapsed-stack file per group, for flame graphs or `sort | uniq` reading. py-spy's own
    sampling costs the hub a little CPU, so profiled runs are not the figures reported."""

    def __init__(self, folder: str, phase: str, leaders: list[int]):
        self.folder = f"{folder}/{phase}" if folder else ""
        self.leaders = leaders
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        if self.folder:
            Path(self.folder).mkdir(parents=True, exist_ok=True)
            for name, pid in zip(PROCESSES, self.leaders, strict=True):
                self.procs.append(
                    subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--format", "raw",
                         "-r", "200", "-p", str(pid), "-o", f"{self.folder}/{name}.txt"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                )  # fmt: skip
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            proc.wait(timeout=60)


class Calibration:
    """The minimal view's CPU per request, measured while the jobs run: one client asks
    it ``rate`` times a second on a kept-alive connection (any job id: the same key check
    and row read). This machine's speed drifts, within minutes, by nearly two times, so a
    job's CPU is also given in these units, taken over the same seconds."""

    def __init__(self, minimal: MinimalServer, headers: dict, rate: float = 50.0):
        self.headers, self.rate = headers, rate
        self.url = f"{minimal.base}/jobs/{uuid.uuid4()}"
        self.leaders = [proc.pid for proc in minimal.procs]
        self.stopping = threading.Event()
        self.count = 0

    def _ask(self) -> None:
        with requests.Session() as session:
            session.headers.update(self.headers)
            while not self.stopping.wait(1 / self.rate):
                session.get(self.url)
                self.count += 1

    def __enter__(self):
        with requests.Session() as session:  # every worker process warm first
            for _ in range(50):
                session.get(self.url, headers=self.headers)
        self.before = session_cpu_seconds(self.leaders)
        self.thread = threading.Thread(target=self._ask, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=10)
        used = sum(session_cpu_seconds(self.leaders).values()) - sum(self.before.values())
        self.ms_per_request = round(used * 1000 / max(self.count, 1), 3)


class MinimalServer:
    """bench.minimal under gunicorn with the hub's worker and thread counts, on the hub's
    database."""

    def __init__(self, hub_env: dict):
        self.env = {**hub_env, "DJANGO_SETTINGS_MODULE": "bench.minimal"}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        from bench.harness import ROOT, web_shape

        workers, threads = web_shape()
        port = free_port()
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "bench.minimal:application",
                 "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                 "--threads", str(threads)],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: requests.get(f"{self.base}/jobs/x", timeout=2).status_code == 401,
            60,
            "the minimal view did not come up",
        )

    def stop(self) -> None:
        stop_groups(self.procs, timeout=10)


def _table(result: dict) -> list[str]:
    idle, job, hot = result["idle"], result["per_job"], result["hot_read"]
    return [
        f"{'stack':<16}{result['stack']}",
        f"{'idle CPU':<16}{idle['cpu_ms_per_second']} ms/s",
        f"{'CPU per job':<16}{job['cpu_ms_per_job']} ms ({job['jobs']} jobs, {job['polls']} polls)",
        f"{'  in units':<16}{result['calibration']['per_job_in_minimal_requests']} minimal "
        f"requests ({result['calibration']['minimal_cpu_ms_per_request']} ms each, "
        "measured meanwhile)",
        f"{'GET /jobs/{id}':<16}{hot['jobs_rps']} req/s vs minimal {hot['minimal_rps']} "
        f"({hot['ratio']:.0%})",
    ]


def main(argv: list[str] | None = None) -> None:
    p = parser("cpu", __doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--idle-seconds", type=float, default=30)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--profile", default="", help="py-spy the hub's processes into this folder.")
    args = p.parse_args(argv)
    setup_django()
    result = CpuBench(args.profile).run(args.jobs, args.idle_seconds, args.seconds)
    report(result, args.json_path, _table(result))


if __name__ == "__main__":
    main()
