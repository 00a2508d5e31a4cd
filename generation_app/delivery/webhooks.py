"""Signed webhooks: job events POSTed to the job's webhook URL, the Standard Webhooks way.

Each delivery is a :class:`WebhookDelivery` row and a task on the housekeeping queue (a
webhook never waits behind, or holds up, a generation). A try sends the event's JSON body
with ``webhook-id`` (the same on every retry: receivers deduplicate on it),
``webhook-timestamp`` (Unix seconds, of this try) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the job's API key's webhook
secret, see ``ApiKey.webhook_secret``). A 2xx answer delivers it; anything else (or no
answer within HUB_WEBHOOK_TIMEOUT, or a redirect: never followed) is tried again after
each of HUB_WEBHOOK_RETRY_DELAYS, then given up. The target is checked again before every
try (core.webhook_targets): DNS may have changed since the URL was accepted.

Retries are django-q2 ``Schedule`` rows (ONCE, at the next attempt) on the housekeeping
cluster, which works with the ORM and the Redis broker alike; a delivery whose task was
lost (a broker outage, a dead worker) is found by :func:`retry_overdue`, which the
housekeeping schedule runs every minute. A try claims its row first, so a delivery
queued twice is still sent once per attempt.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import serializers
from standardwebhooks.webhooks import Webhook

from core.webhook_targets import refusal
from generation_app.models import JobEvent, WebhookDelivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "generation_app.tasks.deliver_webhook"
USER_AGENT = "a1111hub-webhooks/1"
# A delivery task found still "in flight" this long after its try began is tried again.
OVERDUE_GRACE_SECONDS = 60
SLOW_PAUSE_SECONDS = 60  # a receiver that timed out is not tried again for this long
# What a try in flight says, until it ends: left there, its worker was killed mid-try.
INTERRUPTED = "A try was interrupted (its worker stopped before the receiver answered)."


# --- at request time -------------------------------------------------------------------
def check_url(url: str) -> str:
    """The URL, or a 400 naming the rule it breaks (serializer validation)."""
    reason = refusal(url)
    if reason:
        raise serializers.ValidationError(f"The hub will not send webhooks here: {reason}.")
    return url


def webhook_for(requested: str | None, principal) -> tuple[str, int | None]:
    """The job's webhook URL (the request's, else the key's default) and the key it is
    signed with. A webhook needs a key: its secret is the key's."""
    url = requested or getattr(principal, "webhook_url", "") or ""
    key_id = getattr(principal, "key_id", None)
    if url and key_id is None:
        raise serializers.ValidationError(
            {
                "webhook_url": [
                    "Webhooks are signed with the webhook secret of the API key that sends "
                    "the job; send the request with an API key."
                ]
            }
        )
    return url, key_id


# --- queueing ----------------------------------------------------------------------------
def queue_delivery(event: JobEvent, url: str) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        event=event,
        url=url,
        message_id=f"msg_{uuid.uuid4().hex}",
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def enqueue(delivery_id: int, delay: float = 0.0) -> bool:
    """A try of the delivery on the housekeeping queue, now or after ``delay`` seconds.
    False (logged) when the broker is down: retry_overdue() finds it later."""
    from django_q.models import Schedule
    from django_q.tasks import async_task

    try:
        if delay <= 0:
            async_task(
                DELIVER_TASK,
                delivery_id,
                cluster=settings.HUB_HOUSEKEEPING_QUEUE,
                task_name=f"webhook {delivery_id}",
                timeout=int(settings.HUB_WEBHOOK_TIMEOUT) + 30,
            )
        else:
            Schedule.objects.create(
                name=f"webhook {delivery_id} retry {uuid.uuid4().hex[:8]}",
                func=DELIVER_TASK,
                args=repr(int(delivery_id)),
                schedule_type=Schedule.ONCE,
                repeats=-1,  # ONCE and negative: the row goes once it ran
                next_run=timezone.now() + timedelta(seconds=delay),
                cluster=settings.HUB_HOUSEKEEPING_QUEUE,
            )
    except Exception:
        logger.exception("Could not queue webhook delivery %s", delivery_id)
        return False
    return True


def resend(deliveries) -> int:
    """Send again now (the admin action): one more try each, retried as usual."""
    ids = list(deliveries.values_list("pk", flat=True))
    WebhookDelivery.objects.filter(pk__in=ids).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
    )
    for pk in ids:
        enqueue(pk)
    return len(ids)


def retry_overdue() -> int:
    """Queue the pending deliveries whose try is overdue (their task was lost)."""
    cutoff = timezone.now() - timedelta(seconds=OVERDUE_GRACE_SECONDS)
    overdue = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=cutoff
    ).values_list("pk", flat=True)[:500]
    return sum(enqueue(pk) for pk in overdue)


# --- a try -------------------------------------------------------------------------------
class TryTimedOut(Exception):
    """The receiver did not answer in full within HUB_WEBHOOK_TIMEOUT."""


@contextmanager
def wall_clock_limit(seconds: float) -> Iterator[None]:
    """Raise TryTimedOut after ``seconds`` of wall time, whatever the socket is doing: a
    receiver that sends a byte every few seconds resets every per-read timeout. A timer
    signal needs the main thread, where django-q2 runs tasks; elsewhere only the socket
    timeouts bound the try."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TryTimedOut()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _slow_key(url: str) -> str:
    return f"webhooks:slow:{url}"


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` (Standard Webhooks)."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(msg_id=message_id, timestamp=when, data=body)


def deliver(delivery_id: int) -> str:
    """One try of a delivery that is due; schedules the next one if it fails."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.HUB_WEBHOOK_TIMEOUT + OVERDUE_GRACE_SECONDS)
    last_error = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("last_error", flat=True).first()
    )
    # The try is counted before it is made: a worker killed in the middle (its task's
    # timeout) still used up a try, so a receiver that never answers is given up on.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease, tries=F("tries") + 1, last_error=INTERRUPTED)
    if not claimed:
        return "not due"  # delivered, given up, or another try holds it
    delivery = WebhookDelivery.objects.select_related("event__job__api_key").get(pk=delivery_id)
    delivery.tries -= 1  # the tries before this one
    if delivery.tries > len(settings.HUB_WEBHOOK_RETRY_DELAYS) and last_error == INTERRUPTED:
        return _give_up(delivery, INTERRUPTED + " Every try was used up.")
    if cache.get(_slow_key(delivery.url)):
        # This receiver just timed out: its deliveries wait their turn instead of holding
        # the housekeeping worker that other keys' deliveries need. The try is not counted.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            tries=delivery.tries,
            last_error="Paused: this receiver did not answer in time a moment ago.",
            next_attempt_at=now + timedelta(seconds=SLOW_PAUSE_SECONDS),
        )
        enqueue(delivery.pk, SLOW_PAUSE_SECONDS)
        return "paused"
    key = delivery.event.job.api_key
    if key is None or not key.is_active:
        return _give_up(delivery, "The API key that sent the job is gone or revoked.")
    reason = refusal(delivery.url)
    if reason:
        return _give_up(delivery, f"Refused: {reason}.")
    body = json.dumps(delivery.event.payload, separators=(",", ":"), default=str)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key.webhook_secret, delivery.message_id, timestamp, body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    limit = settings.HUB_WEBHOOK_TIMEOUT
    try:
        with (
            wall_clock_limit(limit),
            requests.post(
                delivery.url,
                data=body.encode(),
                headers=headers,
                timeout=settings.HUB_WEBHOOK_TIMEOUT,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            status_code = response.status_code
            if not 200 <= status_code < 300:
                text = next(response.iter_content(500, decode_unicode=False), b"")
                error = f"HTTP {status_code}: {text.decode(errors='replace').strip()[:500]}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:1000]
    except TryTimedOut:
        error = f"No complete answer within {limit:g} s (HUB_WEBHOOK_TIMEOUT)."
        cache.set(_slow_key(delivery.url), True, SLOW_PAUSE_SECONDS)
    latency = int((time.monotonic() - started) * 1000)
    tries = delivery.tries + 1
    fields = {"tries": tries, "latency_ms": latency, "last_status_code": status_code}
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            **fields,
            status=WebhookDelivery.Status.DELIVERED,
            last_error="",
            next_attempt_at=None,
            delivered_at=timezone.now(),
        )
        return "delivered"
    delays = settings.HUB_WEBHOOK_RETRY_DELAYS
    if tries > len(delays):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            **fields, status=WebhookDelivery.Status.FAILED, last_error=error, next_attempt_at=None
        )
        return "failed"
    delay = float(delays[tries - 1])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        **fields, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    enqueue(delivery.pk, delay)
    return "retrying"


def _give_up(delivery: WebhookDelivery, error: str) -> str:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED,
        tries=delivery.tries + 1,
        last_error=error,
        next_attempt_at=None,
    )
    return "failed"


# --- housekeeping ------------------------------------------------------------------------
def prune_events() -> int:
    """Drop events (and their deliveries) older than HUB_EVENT_RETENTION_HOURS."""
    cutoff = timezone.now() - timedelta(hours=settings.HUB_EVENT_RETENTION_HOURS)
    deleted, _ = JobEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
