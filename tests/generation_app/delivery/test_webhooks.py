"""Signed webhooks: a real receiver on 127.0.0.1 checks every signature the way the README
tells receivers to, and sees each event once per try, retried after its 500s."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from core.auth import forget_cached_keys
from core.models import ApiKey
from core.webhook_targets import refusal
from generation_app import tasks
from generation_app.delivery import events, webhooks
from generation_app.jobs.signals import announce
from generation_app.models import Job, JobEvent, WebhookDelivery

SMALL = {"user_id": "alice", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4}


def verify(secret: str, headers: dict, body: bytes) -> dict:
    """The README's receiver check, verbatim in spirit: HMAC-SHA256 over id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s[:3] == "v1,"]
    assert any(hmac.compare_digest(expected, s) for s in given), "bad signature"
    return json.loads(body)


class Receiver:
    """An HTTP server on 127.0.0.1 recording each POST; answers 500 to the first
    ``fail_first`` tries of each webhook-id (``fail_first=-1``: always)."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.fail_first = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.received.append((headers, body))
                    seen = sum(
                        1 for h, _ in receiver.received if h["webhook-id"] == headers["webhook-id"]
                    )
                fail = receiver.fail_first < 0 or seen <= receiver.fail_first
                self.send_response(500 if fail else 204)
                self.end_headers()
                if fail:
                    self.wfile.write(b"receiver is down")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, secret: str) -> list[dict]:
        """Every POST's verified body, in arrival order."""
        return [verify(secret, h, b) for h, b in self.received]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True
    settings.HUB_WEBHOOK_RETRY_DELAYS = [0, 0, 0, 0, 0]


@pytest.fixture
def housekeeping(cluster):
    """A second in-process cluster draining the housekeeping queue (webhook deliveries)."""
    hk = type(cluster)()
    hk.broker = get_broker(settings.HUB_HOUSEKEEPING_QUEUE)
    hk.broker.purge_queue()
    return hk


@pytest.fixture
def keyed(transactional_db):
    """A user key for alice, its client and its webhook secret."""
    key, raw = ApiKey.generate("alice's bot", user_id="alice")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return key, client


def test_every_event_is_signed_and_delivered_once(
    keyed, backend, cluster, housekeeping, receiver, allow_private
):
    key, client = keyed
    response = client.post("/generate/txt2img", {**SMALL, "webhook_url": receiver.url}, "json")
    assert response.status_code == 202, response.json()
    job_id = response.json()["job_id"]
    job = Job.objects.get(pk=job_id)
    assert "webhook_url" not in job.payload  # a hub field, never sent to A1111
    cluster.drain()
    housekeeping.drain()

    received = receiver.events(key.webhook_secret)
    types = [e["type"] for e in received]
    assert types[0] == "job.started" and types[-1] == "job.completed", types
    assert set(types) <= {"job.started", "job.progress", "job.completed"}
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert len(ids) == len(set(ids))  # once per delivery
    for headers, body in receiver.received:  # the published library agrees
        Webhook(key.webhook_secret).verify(body, headers)
        assert headers["content-type"] == "application/json"
    done = received[-1]["data"]
    assert done["job_id"] == job_id and done["status"] == "completed"
    assert done["links"]["result"] == f"http://testserver/jobs/{job_id}/result"
    (image,) = done["result"]["images"]
    assert image.startswith("http://testserver/")
    assert client.get(image.removeprefix("http://testserver")).status_code == 200
    deliveries = WebhookDelivery.objects.filter(event__job_id=job_id)
    assert deliveries.count() == len(received)
    for delivery in deliveries:
        assert delivery.status == "delivered" and delivery.tries == 1
        assert delivery.last_status_code == 204 and delivery.latency_ms is not None


def test_a_receivers_500s_are_retried_with_the_same_id(
    keyed, backend, cluster, housekeeping, receiver, allow_private
):
    key, client = keyed
    receiver.fail_first = 2
    client.post("/generate/txt2img", {**SMALL, "webhook_url": receiver.url}, "json")
    cluster.drain()
    housekeeping.drain()

    by_id: dict[str, list[str]] = {}
    for (headers, _), event in zip(
        receiver.received, receiver.events(key.webhook_secret), strict=True
    ):
        by_id.setdefault(headers["webhook-id"], []).append(event["type"])
    assert by_id and all(len(tries) == 3 for tries in by_id.values()), by_id
    assert {tries[0] for tries in by_id.values()} >= {"job.started", "job.completed"}
    for delivery in WebhookDelivery.objects.all():
        assert delivery.status == "delivered" and delivery.tries == 3
        assert delivery.last_error == ""


def test_a_delivery_gives_up_after_every_retry(
    keyed, backend, cluster, housekeeping, receiver, allow_private
):
    key, client = keyed
    receiver.fail_first = -1
    # The key's default webhook, for a job that names none.
    ApiKey.objects.filter(pk=key.pk).update(webhook_url=receiver.url)
    forget_cached_keys()
    job_id = client.post("/generate/txt2img", SMALL, "json").json()["job_id"]
    client.delete(f"/jobs/{job_id}")  # queued: cancelled at once
    housekeeping.drain()
    (delivery,) = WebhookDelivery.objects.filter(event__job_id=job_id)
    assert delivery.event.type == "job.cancelled"
    assert delivery.status == "failed" and delivery.tries == 6  # 1 + 5 retries
    assert delivery.last_error.startswith("HTTP 500: receiver is down")
    assert len(receiver.received) == 6
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1
    assert all(e["type"] == "job.cancelled" for e in receiver.events(key.webhook_secret))

    # Sent again from the admin: one more try, which now succeeds.
    receiver.fail_first = 0
    receiver.received.clear()
    assert webhooks.resend(WebhookDelivery.objects.filter(pk=delivery.pk)) == 1
    housekeeping.drain()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.tries == 7
    assert len(receiver.received) == 1


def test_retries_wait_for_their_scheduled_time(keyed, transactional_db, receiver, settings):
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True
    settings.HUB_WEBHOOK_RETRY_DELAYS = [30, 60, 120, 180, 240]
    key, _ = keyed
    job = Job.objects.create(user_id="alice", kind="txt2img", api_key=key, webhook_url=receiver.url)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, message="broken")
    event = events.job_changed(job, events.FAILED)
    (delivery,) = event.deliveries.all()
    receiver.fail_first = 1
    assert tasks.deliver_webhook(delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert delivery.tries == 1 and delivery.status == "pending"
    assert delivery.last_error.startswith("HTTP 500")
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 25 < wait <= 30
    (schedule,) = Schedule.objects.filter(func=webhooks.DELIVER_TASK)
    assert schedule.schedule_type == Schedule.ONCE and schedule.args == repr(delivery.pk)
    assert schedule.cluster == settings.HUB_HOUSEKEEPING_QUEUE
    assert tasks.deliver_webhook(delivery.pk) == "not due"  # not before its time

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.deliver_webhook(delivery.pk) == "delivered"
    assert [e["type"] for e in receiver.events(key.webhook_secret)] == ["job.failed"] * 2


@pytest.mark.parametrize(
    "url, rule",
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "reserved"),
        ("http://[2002:7f00:1::]/hook", "6to4 tunnel"),
        ("http://[2002:808:808::]/hook", "6to4 tunnel"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", "Teredo tunnel"),
        ("http://[64:ff9b::7f00:1]/hook", "NAT64 tunnel"),
    ],
)
def test_private_targets_are_refused_at_request_time(api, settings, url, rule):
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = False
    assert rule in refusal(url)
    response = api.post("/generate/txt2img", {**SMALL, "webhook_url": url}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["fields"]["webhook_url"]
    assert rule in message and "HUB_WEBHOOK_ALLOW_PRIVATE=1" in message


def test_public_targets_and_the_setting_pass(settings):
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = False
    assert refusal("https://8.8.8.8/hook") is None
    assert "http://" in refusal("ftp://8.8.8.8/hook")
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True
    assert refusal("http://127.0.0.1:9/hook") is None


def test_the_target_is_checked_again_before_each_try(
    keyed, backend, cluster, housekeeping, receiver, settings
):
    key, client = keyed
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True
    client.post("/generate/txt2img", {**SMALL, "webhook_url": receiver.url}, "json")
    cluster.drain()
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = False  # as if the name now resolved inside
    housekeeping.drain()
    assert receiver.received == []
    for delivery in WebhookDelivery.objects.all():
        assert delivery.status == "failed" and "loopback" in delivery.last_error


def test_the_key_default_is_checked_too(transactional_db, settings):
    from django.core.exceptions import ValidationError

    settings.HUB_WEBHOOK_ALLOW_PRIVATE = False
    key, _ = ApiKey.generate("bot")
    key.webhook_url = "http://127.0.0.1:8000/hook"
    with pytest.raises(ValidationError, match="loopback"):
        key.full_clean()


def test_progress_events_are_throttled(transactional_db, settings):
    settings.HUB_WEBHOOK_PROGRESS_SECONDS = 60
    job = Job.objects.create(user_id="alice", kind="txt2img", status=Job.Status.RUNNING)
    assert events.job_progressed(job.pk) is not None
    assert events.job_progressed(job.pk) is None
    events.job_changed(job, events.FAILED)  # a final event resets the throttle
    settings.HUB_WEBHOOK_PROGRESS_SECONDS = 0
    assert events.job_progressed(job.pk) is not None


def test_an_event_of_the_row_as_written_reads_no_job_and_says_the_same(transactional_db, settings):
    """The runner hands over the row it just wrote: the event is recorded from it (one
    query fewer, the INSERT) and carries what a fresh read of the job would."""
    settings.HUB_WEBHOOK_PROGRESS_SECONDS = 0
    job = Job.objects.create(
        user_id="alice", kind="txt2img", status=Job.Status.RUNNING, total_steps=20
    )
    Job.objects.filter(pk=job.pk).update(progress=0.5, step=10)
    job.progress, job.step = 0.5, 10
    with CaptureQueriesContext(connection) as given:
        announce(job, JobEvent.Type.PROGRESS, current=True)
    with CaptureQueriesContext(connection) as read:
        announce(job.pk, JobEvent.Type.PROGRESS)
    assert len(given.captured_queries) == len(read.captured_queries) - 1
    first, second = JobEvent.objects.order_by("id")
    assert first.payload["data"] == second.payload["data"]
    assert first.payload["data"]["progress"] == 0.5


def test_old_events_are_pruned(transactional_db, settings):
    settings.HUB_EVENT_RETENTION_HOURS = 24
    job = Job.objects.create(user_id="alice", kind="txt2img")
    old = events.job_changed(job, events.STARTED)
    JobEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    new = events.job_changed(job, events.FAILED)
    assert tasks.push_housekeeping() == 1
    assert list(JobEvent.objects.values_list("pk", flat=True)) == [new.pk]


def test_the_webhook_secret_is_the_keys_and_is_printed_once(transactional_db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_key", "bot", stdout=out)
    lines = out.getvalue().splitlines()
    secret = next(line.rsplit(" ", 1)[1] for line in lines if "Webhook signing secret" in line)
    key = ApiKey.objects.get(name="bot")
    assert secret == key.webhook_secret and secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert lines[-1].startswith("hub_")  # the key itself is still alone on the last line
    assert ApiKey.generate("other")[0].webhook_secret != secret


class TricklingReceiver:
    """Answers one byte every ``every`` seconds, for ever: each byte resets a read timeout."""

    def __init__(self, every: float = 0.3):
        import socket

        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/slow"
        self.every = every
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self.trickle, args=(connection,), daemon=True).start()

    def trickle(self, connection):
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if self.stop.wait(self.every):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return


def _delivery_to(url: str, user: str) -> WebhookDelivery:
    key, _ = ApiKey.generate(f"{user}'s bot", user_id=user)
    job = Job.objects.create(
        user_id=user, kind="txt2img", status=Job.Status.FAILED, webhook_url=url, api_key=key
    )
    events.job_changed(job, events.FAILED)
    return WebhookDelivery.objects.get(event__job=job)


def test_a_trickling_receiver_is_cut_at_the_webhook_timeout_and_its_try_counted(
    transactional_db, allow_private, settings
):
    settings.HUB_WEBHOOK_TIMEOUT = 1.5
    slow = TricklingReceiver()
    try:
        delivery = _delivery_to(slow.url, "slowpoke")
        started = timezone.now()
        assert webhooks.deliver(delivery.pk) == "retrying"
        assert (timezone.now() - started).total_seconds() < 4  # not django-q's 40 s timeout
        delivery.refresh_from_db()
        assert delivery.tries == 1 and "HUB_WEBHOOK_TIMEOUT" in delivery.last_error
    finally:
        slow.stop.set()


def test_a_try_is_counted_before_it_is_made(transactional_db, allow_private, receiver):
    """A worker killed mid-try (the task's timeout) used to leave tries at 0 for ever."""
    delivery = _delivery_to(receiver.url, "bob")
    # What a worker killed in its last try leaves behind.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        tries=len(settings.HUB_WEBHOOK_RETRY_DELAYS) + 1, last_error=webhooks.INTERRUPTED
    )
    assert webhooks.deliver(delivery.pk) == "failed"
    assert receiver.received == []


def test_a_slow_receiver_does_not_hold_up_another_keys_deliveries(
    transactional_db, allow_private, settings, receiver
):
    settings.HUB_WEBHOOK_TIMEOUT = 1.0
    slow = TricklingReceiver()
    try:
        first, second = _delivery_to(slow.url, "slowpoke"), _delivery_to(slow.url, "slowpoke2")
        fast = _delivery_to(receiver.url, "carol")
        assert webhooks.deliver(first.pk) == "retrying"
        started = timezone.now()
        assert webhooks.deliver(second.pk) == "paused"  # not tried: no second timeout
        assert webhooks.deliver(fast.pk) == "delivered"
        assert (timezone.now() - started).total_seconds() < 1
        second.refresh_from_db()
        assert second.tries == 0
    finally:
        slow.stop.set()
