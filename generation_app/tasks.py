"""django-q2 tasks. Thin: they hand over to the dispatcher or the sweep."""

from __future__ import annotations

from generation_app.delivery import webhooks
from generation_app.media import retention
from generation_app.scheduling import dispatcher, housekeeping


def dispatch() -> int:
    """Run queued jobs on every free backend (see scheduling.dispatcher)."""
    return dispatcher.dispatch()


def run_job(job_id: str) -> int:
    """Tasks enqueued by earlier versions name a job: any dispatcher runs it now."""
    return dispatcher.dispatch()


def sweep() -> int:
    return housekeeping.mend_queue()


def deliver_webhook(delivery_id: int) -> str:
    """One try of a webhook delivery (housekeeping queue)."""
    return webhooks.deliver(delivery_id)


def push_housekeeping() -> int:
    """Every minute: queue webhook deliveries whose task was lost, prune old events."""
    webhooks.retry_overdue()
    return webhooks.prune_events()


def prune_images() -> dict:
    """Retention and per-user quota (housekeeping queue, see media.retention)."""
    return retention.prune_images().as_dict()
