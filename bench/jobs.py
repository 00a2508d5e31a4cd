"""Benchmark the hub's overhead on a generation, and GET /jobs/{id} throughput.

For each stack (SQLite + ORM broker; PostgreSQL + Redis when reachable) it starts the real
processes — gunicorn and qcluster — against a1111sim at --step-ms 0, then for each of N
jobs measures POST /generate/txt2img -> result readable, minus the time the same payload
takes sent straight to the simulator. Prints JSON and a short table.

    python -m bench.jobs [--jobs 100] [--seconds 5] [--json FILE]
"""

from __future__ import annotations

import os
import statistics
import time

import requests

from bench.harness import (
    POSTGRES_URL,
    REDIS_URL,
    Hub,
    Sims,
    fresh_postgres_database,
    log,
    parser,
    percentile,
    report,
    requests_per_second,
    setup_django,
    wait_until,
)

PAYLOAD = {
    "user_id": "bench",
    "prompt": "a lighthouse at dusk",
    "width": 64,
    "height": 64,
    "steps": 1,
}


def stacks():
    yield "sqlite+orm", {}
    try:
        import psycopg
        import redis

        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=2).close()
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:  # either service missing: skip that stack, say so
        log(f"PostgreSQL + Redis stack skipped: {exc}")
        return
    database = fresh_postgres_database(f"{POSTGRES_URL}/hub_bench", "hub_bench")
    yield "postgres+redis", {"DATABASE_URL": database, "REDIS_URL": REDIS_URL}


def bench_stack(name: str, extra_env: dict, sim_url: str, jobs: int, seconds: float) -> dict:
    hub = Hub("jobs", {"A1111_URL": sim_url, **extra_env}, housekeeping=False)
    try:
        hub.start()
        base, session = hub.base, hub.session
        wait_until(
            lambda: requests.get(f"{base}/health", timeout=2).status_code == 200,
            60,
            "the hub did not come up",
        )
        for _ in range(5):  # warm up: connections, caches, first-job costs
            one_job(session, base)
        hub_times, direct_times = [], []
        for _ in range(jobs):
            direct_times.append(direct(sim_url))
            hub_times.append(one_job(session, base))
        overheads = [h - d for h, d in zip(hub_times, direct_times, strict=True)]
        job_id = session.post(f"{base}/generate/txt2img", json=PAYLOAD).json()["job_id"]
        rps, tool = requests_per_second(f"{base}/jobs/{job_id}", hub.headers, seconds)
    finally:
        hub.stop()
    ms = [o * 1000 for o in overheads]
    return {
        "stack": name,
        "overhead_ms_median": round(statistics.median(ms), 1),
        "overhead_ms_p95": round(percentile(ms, 95), 1),
        "hub_total_ms_median": round(statistics.median(hub_times) * 1000, 1),
        "direct_ms_median": round(statistics.median(direct_times) * 1000, 1),
        "get_job_requests_per_s": rps,
        "load_tool": tool,
    }


def direct(sim_url: str) -> float:
    body = {k: v for k, v in PAYLOAD.items() if k != "user_id"}
    start = time.perf_counter()
    requests.post(f"{sim_url}/sdapi/v1/txt2img", json=body, timeout=30).raise_for_status()
    return time.perf_counter() - start


def one_job(session: requests.Session, base: str) -> float:
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


def table(results: list[dict]) -> list[str]:
    lines = [
        "",
        f"{'stack':<16}{'overhead median':>17}{'p95':>9}{'hub total':>11}{'direct':>9}{'GET /jobs/{id}':>17}",
    ]
    for r in results:
        lines.append(
            f"{r['stack']:<16}{r['overhead_ms_median']:>14} ms{r['overhead_ms_p95']:>6} ms"
            f"{r['hub_total_ms_median']:>8} ms{r['direct_ms_median']:>6} ms{r['get_job_requests_per_s']:>11} req/s"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "jobs", "Measure the hub's per-job overhead and GET /jobs/{id} throughput (real processes)."
    )
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--seconds", type=float, default=5.0, help="Throughput test length.")
    args = p.parse_args(argv)
    setup_django()
    results = []
    with Sims(1, step_ms=0, swap_ms=0) as sims:
        for name, extra_env in stacks():
            log(f"== {name}")
            results.append(bench_stack(name, extra_env, sims.urls[0], args.jobs, args.seconds))
    data = {"machine": f"{os.cpu_count()} cores", "jobs": args.jobs, "stacks": results}
    report(data, args.json_path, table(results))


if __name__ == "__main__":
    main()
