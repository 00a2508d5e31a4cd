"""django-q2 tasks. Thin: they re-fetch by id and hand over to the runner."""

from __future__ import annotations

from generation_app import runner, services


def run_job(job_id: str) -> str:
    """Run one job. Delivery is at-least-once, so a job that is not queued is left alone."""
    return runner.run(job_id)


def sweep() -> int:
    return services.sweep_stale_jobs()
