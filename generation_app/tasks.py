"""django-q2 tasks. Thin: they hand over to the dispatcher or the sweep."""

from __future__ import annotations

from generation_app import dispatcher, services


def dispatch() -> int:
    """Run queued jobs on every free backend (see generation_app.dispatcher)."""
    return dispatcher.dispatch()


def run_job(job_id: str) -> int:
    """Tasks enqueued by earlier versions name a job: any dispatcher runs it now."""
    return dispatcher.dispatch()


def sweep() -> int:
    return services.sweep_stale_jobs()
