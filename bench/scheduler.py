"""Benchmark the scheduler against its targets, with the real processes.

One hub per run — gunicorn (runhub's workers and threads, with
DJANGO_SETTINGS_MODULE=bench.settings for the baseline view), the generation qcluster and
the housekeeping qcluster — on a temporary HUB_DATA_DIR: SQLite + the ORM broker by
default, PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set (a dedicated database,
dropped and created afresh). Each scenario starts its own a1111sim processes (--step-ms 100)
and makes them the hub's only enabled backends; its users have names of their own, so no
scenario's history leaks into another's.

Scenarios, one at a time (the machine has two cores), each with its target:

- throughput: 25 one-second jobs (10 steps at 100 ms) from 7 users on 1, 4 and 16 backends;
  throughput = jobs / (first POST -> last job finished). On n backends 25 jobs take
  ceil(25/n) rounds, which caps the ratio to n x the one-backend figure below the targets
  (89.3 % on 4, 78.1 % on 16); so also whole rounds (n x ceil(25/n) jobs) and a backlog of
  six rounds (6n jobs), the figure held against the target: at least 90 % of 4x on 4
  backends, 85 % of 16x on 16.
- light user: 6 heavy users queue 4 jobs each on 4 backends, then a light user sends one;
  its time from POST to finished, in job-times (the median run time of the scenario's
  jobs): at most 2.5.
- swaps: 16 jobs alternating two checkpoints (one user each) on 4 backends at --swap-ms
  1500; swaps counted from each simulator's own /sim/state history: at most 4.
- order: one backend busy with a blocker job, a shuffled mix from several users queued
  behind it; the started order against the README's rule, re-implemented here: every trial.
- sweep: a 3x3 sweep on one backend, then on four: about a quarter of the time.
- eta: after a warm-up, jobs from 5 users on 4 backends; eta_seconds read from
  GET /jobs/{id} right after each POST against the real time to finished: within +-30 %.
- GET /jobs/{id} (a queued job) against a minimal view that checks the same key and reads
  one row by primary key, same gunicorn, same load generator, both in this run: at least
  75 % of the minimal view's requests per second.

Prints a table of measured vs target and, with --json, writes the figures.

    python -m bench.scheduler [--only throughput,order,...] [--trials 20] [--seconds 4]
                              [--json FILE]
"""

from __future__ import annotations

import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from math import ceil

import requests

from bench.harness import (
    BENCH_SETTINGS,
    JOB_STEPS,
    SCENARIO_TIMEOUT,
    Hub,
    Sims,
    job_vs_minimal,
    log,
    parser,
    ratio,
    report,
    setup_django,
    stack_from_env,
    ts,
    write_json,
)

ANIME = "animefull_final.safetensors [80b493026b]"
REALISTIC = "realisticVision_v51.safetensors [c4cbeec1db]"
SUSTAINED_ROUNDS = 6  # the throughput run with a backlog: this many jobs per backend
SCENARIOS = (  # in the order they run
    "throughput",
    "light_user",
    "swaps",
    "order",
    "sweep",
    "eta",
    "get_job",
)


class SchedulerBench:
    def __init__(self, trials: int = 20, seconds: float = 4.0):
        self.trials = trials
        self.seconds = seconds

    def run(self, only: str = "", json_path: str = "") -> dict:
        stack, extra_env = stack_from_env("bench_scheduler")
        log(f"== bench.scheduler on {stack}, {os.cpu_count()} cores")
        hub = Hub("scheduler", extra_env, settings_module=BENCH_SETTINGS)
        wanted = set(filter(None, only.split(",")))
        scenarios = {
            "throughput": self.throughput,
            "light_user": self.light_user,
            "swaps": self.swaps,
            "order": lambda h: self.order(h, self.trials),
            "sweep": self.sweep,
            "eta": self.eta,
            "get_job": lambda h: self.get_job(h, self.seconds),
        }
        results: dict = {"stack": stack, "machine": f"{os.cpu_count()} cores"}
        try:
            hub.start()
            for name in SCENARIOS:
                if wanted and name not in wanted:
                    continue
                run = scenarios[name]
                log(f"-- {name}")
                started = time.monotonic()
                try:
                    results[name] = run(hub)
                except Exception as exc:  # report it, go on with the next scenario
                    log(f"   {name} failed: {exc!r}")
                    results.setdefault("errors", {})[name] = repr(exc)
                    continue
                results[name]["scenario_seconds"] = round(time.monotonic() - started, 1)
                if json_path:
                    write_json(json_path, results)
        finally:
            hub.stop()
        results["table"] = self._table(results)
        return results

    # --- scenarios ----------------------------------------------------------------------
    def _batch(self, hub: Hub, jobs: list[tuple[str, dict]], concurrent: bool = True):
        """POST jobs [(user, extra)]: one client thread per user, each in its own order.
        Returns (ids in list order, wall time of the first POST)."""
        ids: list[str | None] = [None] * len(jobs)
        start = time.time()
        if not concurrent:
            for i, (user, extra) in enumerate(jobs):
                ids[i] = hub.submit(user, **extra)
            return ids, start
        by_user: dict[str, list[int]] = {}
        for i, (user, _) in enumerate(jobs):
            by_user.setdefault(user, []).append(i)

        def post_all(indexes):
            session = requests.Session()
            session.headers.update(hub.headers)
            for i in indexes:
                user, extra = jobs[i]
                ids[i] = hub.submit(user, session=session, **extra)

        with ThreadPoolExecutor(max_workers=len(by_user)) as pool:
            list(pool.map(post_all, by_user.values()))
        return ids, start

    def _run_throughput(self, hub: Hub, backends: int, count: int = 25, users: int = 7) -> dict:
        with Sims(backends) as sims:
            hub.use_backends(sims.urls)
            tag = f"tp{backends}-{count}"
            jobs = [(f"{tag}-u{i % users}", {}) for i in range(count)]
            ids, start = self._batch(hub, jobs)
            hub.wait_idle()
            done = hub.finished(ids)
        end = max(ts(j["finished_at"]) for j in done)
        runs = [ts(j["finished_at"]) - ts(j["started_at"]) for j in done]
        makespan = end - start
        return {
            "backends": backends,
            "jobs": count,
            "makespan_s": round(makespan, 2),
            "jobs_per_s": round(count / makespan, 3),
            "job_run_s_median": round(statistics.median(runs), 3),
            "warm_up_s": round(hub.first_job_s, 2),  # new backends' first jobs, not counted
        }

    def throughput(self, hub: Hub) -> dict:
        one = self._run_throughput(hub, 1)
        out = {"one_backend": one}
        for n in (4, 16):
            run = self._scaled_run(hub, n, 25, one)
            # 25 jobs on n backends take ceil(25/n) rounds at best: the most the ratio can be
            rounds_bound = 25 / (n * ceil(25 / n))
            run.update(
                ratio_bound_25_jobs=round(rounds_bound, 3),
                ratio_of_bound=ratio(run["ratio"], rounds_bound),
            )
            # The same with whole rounds (a multiple of n jobs): the fixed count out of it.
            run["whole_rounds"] = self._scaled_run(hub, n, n * ceil(25 / n), one)
            # A backlog of SUSTAINED_ROUNDS rounds: throughput with the queue never empty,
            # where the first round's POSTs and the last job's tail weigh less.
            run["sustained"] = self._scaled_run(hub, n, n * SUSTAINED_ROUNDS, one)
            out[f"backends_{n}"] = run
        return out

    def _scaled_run(self, hub: Hub, backends: int, count: int, one: dict) -> dict:
        """A throughput run with its ratio to ``backends`` x the one-backend figure."""
        run = self._run_throughput(hub, backends, count=count)
        run["ratio"] = ratio(run["jobs_per_s"], backends * one["jobs_per_s"])
        return run

    def light_user(self, hub: Hub) -> dict:
        """Six heavy users each queue 4 jobs at the same time (a client each); the light
        user's job follows. Also with the 24 sent one after another, user by user."""
        out = self._light_user(hub, concurrent=True)
        out["user_by_user"] = self._light_user(hub, concurrent=False)
        return out

    def _light_user(self, hub: Hub, concurrent: bool) -> dict:
        tag = "luc" if concurrent else "lus"
        with Sims(4) as sims:
            hub.use_backends(sims.urls)
            heavy = [(f"{tag}-heavy{u}", {}) for u in range(6) for _ in range(4)]
            heavy_ids, first = self._batch(hub, heavy, concurrent=concurrent)
            sent = time.time()
            light_id = hub.submit(f"{tag}-light")
            hub.wait_idle()
            done = hub.finished([*heavy_ids, light_id])
        light = done[-1]
        job_time = statistics.median(ts(j["finished_at"]) - ts(j["started_at"]) for j in done)
        took = ts(light["finished_at"]) - sent
        started_before = sum(1 for j in done[:-1] if ts(j["started_at"]) < ts(light["started_at"]))
        return {
            "job_time_s": round(job_time, 3),
            "light_done_after_s": round(took, 2),
            "job_times": round(took / job_time, 2),
            "jobs_started_before_it": started_before,
            "heavy_posts_s": round(sent - first, 2),
            "timeline": [
                (
                    j["user_id"],
                    round(ts(j["started_at"]) - sent, 2),
                    round(ts(j["finished_at"]) - sent, 2),
                )
                for j in sorted(done, key=lambda j: j["started_at"])
            ],  # fmt: skip
        }

    def swaps(self, hub: Hub) -> dict:
        with Sims(4, swap_ms=1500) as sims:
            hub.use_backends(sims.urls)
            initial = {url: sims.state(url)["loaded_checkpoint"] for url in sims.urls}
            jobs = [(f"sw-u{i}", {"checkpoint": (ANIME, REALISTIC)[i % 2]}) for i in range(16)]
            ids, start = self._batch(hub, jobs, concurrent=False)
            hub.wait_idle()
            done = hub.finished(ids)
            per_sim = {}
            for url in sims.urls:
                history = [h for h in sims.state(url)["history"] if h["route"].endswith("2img")]
                history.sort(key=lambda h: h["started_at"])
                models = [initial[url]] + [h["checkpoint"] for h in history]
                per_sim[url] = {
                    "initial": initial[url],
                    "generations": len(history),
                    "swaps": sum(1 for a, b in zip(models, models[1:], strict=False) if a != b),
                }
        makespan = max(ts(j["finished_at"]) for j in done) - start
        return {
            "jobs": len(ids),
            "swaps": sum(s["swaps"] for s in per_sim.values()),
            "per_sim": list(per_sim.values()),
            "makespan_s": round(makespan, 2),
        }

    def sweep(self, hub: Hub) -> dict:
        """A 3x3 sweep (seed x cfg) on one backend, then on four: the cells are jobs of
        their own, so four backends should take about a quarter of the time."""
        out = {}
        for backends in (1, 4):
            with Sims(backends) as sims:
                hub.use_backends(sims.urls)
                body = {
                    "user_id": f"sweep-{backends}",
                    "base": {"prompt": "a lighthouse", "width": 64, "height": 64,
                             "steps": JOB_STEPS},
                    "axes": [{"field": "seed", "values": [1, 2, 3]},
                             {"field": "cfg_scale", "values": [5, 7, 9]}],
                }  # fmt: skip
                start = time.time()
                created = hub.session.post(f"{hub.base}/generate/sweep", json=body, timeout=60)
                if created.status_code != 202:
                    raise RuntimeError(
                        f"POST /generate/sweep: {created.status_code} {created.text}"
                    )
                link = created.json()["links"]["self"]
                deadline = time.monotonic() + SCENARIO_TIMEOUT
                while (state := hub.session.get(link, timeout=30).json())["status"] in (
                    "queued",
                    "running",
                ):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the sweep did not end")
                    time.sleep(0.1)
                if state["status"] != "completed":
                    raise RuntimeError(f"the sweep ended {state['status']}")
                done = hub.finished([c["job_id"] for c in state["cells"]])
                out[f"backends_{backends}"] = {
                    "cells": len(done),
                    "seconds": round(max(ts(j["finished_at"]) for j in done) - start, 2),
                    "sheet": bool(state["sheet_url"]),
                }
        out["ratio"] = ratio(out["backends_4"]["seconds"], out["backends_1"]["seconds"])
        return out

    def order(self, hub: Hub, trials: int) -> dict:
        rng = random.Random(10)
        passed, invalid, failures = 0, 0, []
        with Sims(1) as sims:
            hub.use_backends(sims.urls)
            for trial in range(trials):
                tag = f"or{trial}"
                blocker_user = f"{tag}-a"
                blocker = hub.submit(blocker_user, steps=JOB_STEPS)
                deadline = time.monotonic() + 30
                while hub.job(blocker)["status"] != "running":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the order trial's blocker job never started")
                    time.sleep(0.02)
                # A mix: the blocker's own user again, and 2-4 more users, 4-8 jobs.
                users = [blocker_user] + [f"{tag}-{c}" for c in "bcde"[: rng.randint(2, 4)]]
                mix = [rng.choice(users) for _ in range(rng.randint(4, 8))]
                ids = [hub.submit(user, steps=1) for user in mix]
                still_blocked = hub.job(blocker)["status"] == "running"
                hub.wait_idle()
                done = hub.finished([blocker, *ids])
                if not still_blocked:  # the mix was not all queued together: no verdict
                    invalid += 1
                    continue
                started = [j["job_id"] for j in sorted(done[1:], key=lambda j: ts(j["started_at"]))]
                expected = self._rule_order(ids, mix, {blocker_user: ts(done[0]["started_at"])})
                if started == expected:
                    passed += 1
                else:
                    failures.append(
                        {
                            "users": mix,
                            "expected": [mix[ids.index(i)] for i in expected],
                            "started": [mix[ids.index(i)] for i in started],
                        }
                    )
        return {"trials": trials, "passed": passed, "invalid": invalid, "failures": failures}

    @staticmethod
    def _rule_order(ids: list[str], users: list[str], last_served: dict[str, float]) -> list[str]:
        """The README's rule for one backend, re-implemented: jobs start one at a time, so
        nobody has a job running when the next is picked; equal priorities and no
        checkpoints, so the user served least recently (never = first) goes first, then
        the oldest job. Starting a job makes its user the most recently served."""
        queue = list(range(len(ids)))  # submission order = age order
        served = dict(last_served)
        clock = max(served.values(), default=0.0)
        order = []
        while queue:
            pick = min(queue, key=lambda i: (served.get(users[i], float("-inf")), i))
            queue.remove(pick)
            order.append(ids[pick])
            clock += 1
            served[users[pick]] = clock
        return order

    def eta(self, hub: Hub) -> dict:
        with Sims(4) as sims:
            hub.use_backends(sims.urls)
            warm, _ = self._batch(hub, [("eta-warm", {})] * 8, concurrent=False)
            hub.wait_idle()
            hub.finished(warm)
            samples = []
            for i in range(24):
                job_id = hub.submit(f"eta-u{i % 6}")
                at = time.time()
                body = hub.job(job_id)
                samples.append((job_id, at, body["queue_position"], body["eta_seconds"]))
            hub.wait_idle()
            done = {j["job_id"]: j for j in hub.finished([s[0] for s in samples])}
        rows = []
        for job_id, at, position, eta in samples:
            actual = ts(done[job_id]["finished_at"]) - at
            error = None if eta is None else (eta - actual) / actual
            rows.append({"position": position, "eta_s": eta, "actual_s": round(actual, 2),
                         "error": None if error is None else round(error, 3)})  # fmt: skip
        deep = [r for r in rows if (r["position"] or 0) >= 2]
        errors = [r["error"] for r in deep if r["error"] is not None]
        return {
            "samples_at_position_2_plus": len(deep),
            "without_eta": sum(1 for r in deep if r["error"] is None),
            "within_30pct": sum(1 for e in errors if abs(e) <= 0.30),
            "error_median": round(statistics.median(errors), 3) if errors else None,
            "error_min": min(errors, default=None),
            "error_max": max(errors, default=None),
            "rows": rows,
        }

    def get_job(self, hub: Hub, seconds: float) -> dict:
        """A queued job (position and ETA computed) against the minimal view, interleaved."""
        with Sims(1, step_ms=300) as sims:
            hub.use_backends(sims.urls)
            warm = hub.submit("gj-warm", steps=1)
            hub.wait_idle()
            hub.finished([warm])
            blocker = hub.submit("gj-block", steps=150)  # 45 s: longer than the measuring
            queued = [hub.submit(f"gj-u{i % 5}", steps=1) for i in range(10)]
            target = queued[4]
            body = hub.job(target)
            position = body["queue_position"]
            measured = job_vs_minimal(
                f"{hub.base}/jobs/{target}",
                f"{hub.base}/bench/minimal/{target}",
                hub.headers,
                seconds,
            )
            still_queued = hub.job(target)["status"] == "queued"
            for job_id in [*queued, blocker]:
                hub.session.delete(f"{hub.base}/jobs/{job_id}")
            hub.wait_idle()
        return {"queue_position": position, "stayed_queued": still_queued, **measured}

    # --- report -------------------------------------------------------------------------
    @staticmethod
    def _table(r: dict) -> list[dict]:
        rows = []
        tp = r.get("throughput")
        if tp:
            one = tp["one_backend"]
            rows.append({"measure": "25 jobs, 1 backend (baseline)",
                         "measured": f"{one['makespan_s']} s, {one['jobs_per_s']} jobs/s",
                         "target": "-", "met": None})  # fmt: skip
            for n, target in ((4, 0.90), (16, 0.85)):
                run = tp[f"backends_{n}"]
                whole, sustained = run["whole_rounds"], run["sustained"]
                rows.append({
                    "measure": f"7 users, {n} backends",
                    "measured": f"{sustained['ratio']:.1%} of {n}x with {sustained['jobs']} jobs "
                                f"({sustained['makespan_s']} s); 25 jobs: {run['ratio']:.1%} "
                                f"(at most {run['ratio_bound_25_jobs']:.1%} in {ceil(25 / n)} "
                                f"rounds); {whole['jobs']} jobs: {whole['ratio']:.1%}",
                    "target": f">= {target:.0%} of {n}x",
                    "met": sustained["ratio"] >= target,
                })  # fmt: skip
        if "light_user" in r:
            lu = r["light_user"]
            rows.append({"measure": "light user's job behind 6x4 backlog",
                         "measured": f"{lu['job_times']} job-times ({lu['light_done_after_s']} s); sent "
                        f"user by user: {lu['user_by_user']['job_times']}",
                         "target": "<= 2.5 job-times", "met": lu["job_times"] <= 2.5})  # fmt: skip
        if "sweep" in r:
            sw = r["sweep"]
            rows.append({"measure": "3x3 sweep, 4 backends vs 1", "measured":
                         f"{sw['backends_4']['seconds']} s vs {sw['backends_1']['seconds']} s "
                         f"({sw['ratio']:.0%} of the time)", "target": "about 25 %",
                         "met": sw["ratio"] <= 0.4})  # fmt: skip
        if "swaps" in r:
            sw = r["swaps"]
            rows.append({"measure": "16 jobs, 2 checkpoints, 4 backends", "measured":
                         f"{sw['swaps']} swaps", "target": "<= 4 swaps",
                         "met": sw["swaps"] <= 4})  # fmt: skip
        if "order" in r:
            o = r["order"]
            judged = o["trials"] - o["invalid"]
            rows.append({"measure": "queue order, one backend",
                         "measured": f"{o['passed']} of {judged} trials"
                                     + (f" ({o['invalid']} without a verdict)" if o["invalid"] else ""),
                         "target": "20 of 20", "met": o["passed"] == o["trials"]})  # fmt: skip
        if "eta" in r:
            e = r["eta"]
            n = e["samples_at_position_2_plus"]
            rows.append({"measure": "ETA error at position >= 2",
                         "measured": f"{e['within_30pct']}/{n} within 30% (median "
                                     f"{e['error_median']:+.0%}, {e['error_min']:+.0%}..{e['error_max']:+.0%})",
                         "target": "within +-30%", "met": n > 0 and e["within_30pct"] == n})  # fmt: skip
        if "get_job" in r:
            g = r["get_job"]
            rows.append({"measure": "GET /jobs/{id} (queued) vs minimal view",
                         "measured": f"{g['ratio']:.0%} ({g['jobs_rps']} vs {g['minimal_rps']} req/s)",
                         "target": ">= 75%", "met": g["ratio"] >= 0.75})  # fmt: skip
        return rows

    @staticmethod
    def _format(rows: list[dict]) -> list[str]:
        width = max((len(row["measured"]) for row in rows), default=10)
        lines = ["", f"{'measure':<40}{'measured':<{width + 2}}{'target':<22}met"]
        for row in rows:
            met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
            lines.append(
                f"{row['measure']:<40}{row['measured']:<{width + 2}}{row['target']:<22}{met}"
            )
        return lines


def main(argv: list[str] | None = None) -> None:
    p = parser("scheduler", "Measure the scheduler against its targets (real processes, a1111sim).")
    p.add_argument("--trials", type=int, default=20, help="Queue-order trials.")
    p.add_argument("--seconds", type=float, default=4.0, help="Each throughput run.")
    p.add_argument(
        "--only", default="", help=f"Comma-separated scenario names: {', '.join(SCENARIOS)}."
    )
    args = p.parse_args(argv)
    setup_django()
    bench = SchedulerBench(trials=args.trials, seconds=args.seconds)
    results = bench.run(only=args.only, json_path=args.json_path)
    report(results, args.json_path, bench._format(results["table"]))


if __name__ == "__main__":
    main()
