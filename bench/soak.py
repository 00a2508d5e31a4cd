"""Soak: a few hundred jobs while the simulators fail, hang and drop connections at random
and the generation workers are killed with SIGKILL and started again.

Reports submitted / completed / failed (by reason) / stuck / run twice, and the web
workers' peak memory. Targets: 0 stuck, 0 run twice, every failure with a true reason.
Real processes (gunicorn, the two qclusters, a1111sim), started by bench.harness as for the
scheduler bench; SQLite + the ORM broker by default, PostgreSQL + Redis when DATABASE_URL
is set.

    python -m bench.soak [--jobs 300] [--backends 4] [--kills 4] [--json FILE]
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from bench.harness import Hub, Sims, log, parser, report, setup_django, stack_from_env

FAULTS = [  # one armed at a time, for one request: what a flaky GPU box does
    {"fail_rate": 1.0, "fail_status": 500, "fail_message": "CUDA out of memory", "count": 1},
    {"hang_seconds": 4, "count": 1},
    {"drop_connection": True, "count": 1},
]
# Every failure must say why, in words a user can act on: these are the true reasons.
REASONS = {
    "a1111_error": "A1111 failed (HTTP",
    "backend_unreachable": "Backend unreachable",
    "worker_died": "stopped responding",
    "timed_out": "did not answer within",
}


class Soak:
    def __init__(self):
        self.kills_done = 0

    def run(self, jobs: int, backends: int, kills: int) -> dict:
        stack, extra = stack_from_env("bench_soak")
        extra.update(HUB_JOB_STALE_SECONDS="5", A1111_GENERATION_TIMEOUT="3")
        hub = Hub("soak", extra)
        rng = random.Random(7)
        self.kills_done = 0
        log(f"== bench.soak on {stack}: {jobs} jobs, {backends} backends")
        started = time.monotonic()
        with Sims(backends, step_ms=20) as sims:
            try:
                hub.start()
                hub.use_backends(sims.urls)
                ids: list[str] = []
                stop = threading.Event()
                chaos = threading.Thread(target=self._chaos, args=(hub, sims, rng, kills, stop))
                chaos.start()
                try:
                    for i in range(jobs):
                        ids.append(hub.submit(f"soak-u{i % 20}", steps=5))
                        time.sleep(0.05)
                finally:
                    stop.set()
                    chaos.join()
                self._sweep(hub)  # what runhub's start and the minute's sweep do
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline and self._active(hub):
                    time.sleep(1)
                    if self._active(hub):
                        self._sweep(hub)
                result = self._report(hub, sims, ids, stack, backends, kills)
                result["web_peak_rss_mb"] = _peak_rss_mb(hub.procs[0].pid)
            finally:
                hub.stop()
        result["seconds"] = round(time.monotonic() - started, 1)
        return result

    def _chaos(self, hub: Hub, sims: Sims, rng: random.Random, kills: int, stop) -> None:
        """Arm a random fault on a random simulator every half second; kill the generation
        cluster every few seconds (at most ``kills`` times) and start it again."""
        next_kill, done = time.monotonic() + 4, 0
        while not stop.wait(0.5):
            url = rng.choice(sims.urls)
            fault = {**rng.choice(FAULTS), "routes": ["/sdapi/v1/txt2img"]}
            requests.post(f"{url}/sim/faults", json=fault, timeout=5)
            if done < kills and time.monotonic() >= next_kill:
                generation = hub.procs[1]
                os.killpg(generation.pid, signal.SIGKILL)
                generation.wait()
                hub.procs[1] = subprocess.Popen(
                    [*hub.manage, "qcluster"], env=hub.env, cwd=hub.cwd,
                    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                )  # fmt: skip
                self._sweep(hub)
                done += 1
                self.kills_done = done
                next_kill = time.monotonic() + rng.uniform(4, 8)
                log(f"   killed and restarted the generation cluster ({done})")

    @staticmethod
    def _sweep(hub: Hub) -> None:
        subprocess.run(
            [*hub.manage, "shell", "-c", "from generation_app.tasks import sweep; sweep()"],
            env=hub.env, cwd=hub.cwd, check=True, capture_output=True,
        )  # fmt: skip

    @staticmethod
    def _active(hub: Hub) -> bool:
        queue = hub.session.get(f"{hub.base}/queue", timeout=10).json()
        return bool(queue["queued"] or queue["running"])

    def _report(self, hub, sims, ids, stack, backends, kills) -> dict:
        jobs = [hub.job(i) for i in ids]
        status = Counter(j["status"] for j in jobs)
        reasons: Counter = Counter()
        unexplained = []
        for job in jobs:
            if job["status"] != "failed":
                continue
            reason = next((r for r, words in REASONS.items() if words in job["message"]), None)
            reasons[reason or "unexplained"] += 1
            if reason is None:
                unexplained.append(job["message"])
        sent = Counter(
            h["task_id"] for url in sims.urls for h in sims.state(url)["history"] if h["task_id"]
        )
        return {
            "stack": stack,
            "backends": backends,
            "kills": self.kills_done,
            "submitted": len(ids),
            "completed": status["completed"],
            "failed": status["failed"],
            "failed_by_reason": dict(reasons),
            "unexplained_failures": unexplained[:5],
            "stuck": status["queued"] + status["running"],
            "run_twice": sum(1 for count in sent.values() if count > 1),
            "targets": {"stuck": 0, "run_twice": 0, "unexplained": 0},
        }


def _peak_rss_mb(master_pid: int) -> float:
    """The largest peak resident set (VmHWM) among gunicorn's master and its workers."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if master_pid not in (int(fields["PPid"]), int(entry.name)):
                continue
            peak = max(peak, int(fields["VmHWM"].split()[0]))
        except (OSError, KeyError, ValueError):
            continue
    return round(peak / 1024, 1)


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "soak", "Soak the hub: random backend faults and killed workers; count what went wrong."
    )
    p.add_argument("--jobs", type=int, default=300)
    p.add_argument("--backends", type=int, default=4)
    p.add_argument("--kills", type=int, default=4, help="Generation cluster kills.")
    args = p.parse_args(argv)
    setup_django()
    result = Soak().run(args.jobs, args.backends, args.kills)
    report(result, args.json_path)


if __name__ == "__main__":
    main()
