"""Prometheus metrics, computed from the database at scrape time.

The hub runs as several gunicorn processes and several qcluster workers: a counter kept in
one process's memory would show a fraction of the truth, depending on which process a
scrape reaches. The database sees everything, so every metric here is read from it when
Prometheus scrapes (one collector, a handful of grouped queries). Time distributions are
built from the jobs that finished in the last ``HUB_METRICS_WINDOW_SECONDS``: they are
gauges of a sliding window, not counters, and are read without ``rate()``.

The one exception is the number of open event streams, which only a process knows: it is
this process's count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from backends.models import Backend
from communities.models import AuditEntry, Charge
from generation_app.delivery import streams
from generation_app.models import Job
from loras_app.hashing import pending_hashes
from loras_app.models import ScanRun
from ops.failures import REASONS, failure_reason

PREFIX = "a1111hub"
QUEUE_WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
RUN_TIME_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


def render() -> bytes:
    """The exposition text for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())
    return generate_latest(registry)


def histogram(
    name: str, doc: str, values: Iterable[float], bounds: tuple[float, ...]
) -> HistogramMetricFamily:
    """A histogram family from raw observations (cumulative buckets, +Inf, sum)."""
    values = list(values)
    buckets = [(f"{bound:g}", float(sum(v <= bound for v in values))) for bound in bounds]
    buckets.append(("+Inf", float(len(values))))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=float(sum(values)))


def open_event_streams() -> int:
    """Event streams this process holds open (its stream slots in use)."""
    return streams.process_slots.held


def _name(backends: dict[int, Backend], backend_id: int | None) -> str:
    if backend_id is None:
        return "none"
    backend = backends.get(backend_id)
    return str(backend) if backend else f"deleted-{backend_id}"


class HubCollector(Collector):
    """Every hub metric, read from the database when collected."""

    def collect(self) -> Iterator:
        now = timezone.now()
        backends = {b.pk: b for b in Backend.objects.order_by("id")}
        yield from self._jobs(backends)
        yield from self._queue(now)
        recent = self._recent_jobs(now)
        yield from self._backends(backends, recent)
        yield from self._timings(recent)
        yield from self._outcomes(recent)
        yield from self._loras()
        yield from self._webhooks()
        yield from self._communities(now)
        streams_open = GaugeMetricFamily(
            f"{PREFIX}_event_streams_open",
            "Server-sent event streams open in the process that answered this scrape "
            "(per process: each gunicorn process counts its own).",
        )
        streams_open.add_metric([], open_event_streams())
        yield streams_open

    # --- jobs and the queue -------------------------------------------------------------
    def _jobs(self, backends: dict[int, Backend]) -> Iterator:
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs",
            "Jobs in the database by state, kind and backend ('none': not on a backend).",
            labels=["state", "kind", "backend"],
        )
        rows = Job.objects.values_list("status", "kind", "backend_id").annotate(n=Count("id"))
        counts: Counter = Counter()
        for status, kind, backend_id, n in rows.order_by():
            counts[(status, kind, _name(backends, backend_id))] += n
        for labels, n in sorted(counts.items()):
            jobs.add_metric(list(labels), n)
        yield jobs

    def _queue(self, now) -> Iterator:
        queued = Job.objects.filter(status=Job.Status.QUEUED)
        oldest = queued.order_by("created_at").values_list("created_at", flat=True).first()
        wait = GaugeMetricFamily(
            f"{PREFIX}_queue_oldest_wait_seconds",
            "How long the oldest queued job has waited (0 when the queue is empty).",
        )
        wait.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
        yield wait

        per_user = list(
            queued.values_list("user_id")
            .annotate(n=Count("id"))
            .order_by("-n", "user_id")
            .values_list("user_id", "n")
        )
        users = GaugeMetricFamily(f"{PREFIX}_queue_users", "Users with at least one queued job.")
        users.add_metric([], len(per_user))
        yield users
        top = GaugeMetricFamily(
            f"{PREFIX}_user_queued_jobs",
            f"Queued jobs of the {settings.HUB_METRICS_TOP_USERS} users with the most "
            "(HUB_METRICS_TOP_USERS; the others are left out to bound the series).",
            labels=["user"],
        )
        for user_id, n in per_user[: settings.HUB_METRICS_TOP_USERS]:
            top.add_metric([user_id], n)
        yield top

    def _recent_jobs(self, now) -> list[tuple]:
        """Jobs that reached a final state within the window: (status, kind, backend_id,
        message, created, started, finished, total_steps)."""
        cutoff = now - timedelta(seconds=settings.HUB_METRICS_WINDOW_SECONDS)
        # A job that finished in the window was created at most this long before it: bound
        # the rows by (status, created_at), which is indexed (finished_at is not).
        oldest_created = cutoff - timedelta(
            seconds=settings.HUB_BACKEND_WAIT_SECONDS + settings.A1111_GENERATION_TIMEOUT + 600
        )
        return list(
            Job.objects.filter(
                status__in=Job.FINAL, created_at__gte=oldest_created, finished_at__gte=cutoff
            ).values_list(
                "status",
                "kind",
                "backend_id",
                "message",
                "created_at",
                "started_at",
                "finished_at",
                "total_steps",
            )
        )

    def _timings(self, recent: list[tuple]) -> Iterator:
        window = settings.HUB_METRICS_WINDOW_SECONDS
        waits, runs = [], []
        for _, _, _, _, created, started, finished, _ in recent:
            if started is None:
                continue
            waits.append(max(0.0, (started - created).total_seconds()))
            runs.append(max(0.0, (finished - started).total_seconds()))
        yield histogram(
            f"{PREFIX}_job_queue_wait_seconds",
            f"Queue wait (started - created) of the jobs that finished in the last {window} s "
            "(a sliding window recomputed at each scrape: use it without rate()).",
            waits,
            QUEUE_WAIT_BUCKETS,
        )
        yield histogram(
            f"{PREFIX}_job_run_seconds",
            f"Run time (finished - started) of the jobs that finished in the last {window} s "
            "(a sliding window recomputed at each scrape: use it without rate()).",
            runs,
            RUN_TIME_BUCKETS,
        )

    def _outcomes(self, recent: list[tuple]) -> Iterator:
        window = settings.HUB_METRICS_WINDOW_SECONDS
        finished = GaugeMetricFamily(
            f"{PREFIX}_recent_jobs_finished",
            f"Jobs that reached a final state in the last {window} s, by state.",
            labels=["state"],
        )
        by_state = Counter(row[0] for row in recent)
        for state in Job.FINAL:
            finished.add_metric([state], by_state[state])
        yield finished
        failures = GaugeMetricFamily(
            f"{PREFIX}_recent_job_failures",
            f"Jobs failed or cancelled in the last {window} s, by reason.",
            labels=["reason"],
        )
        by_reason = Counter(
            failure_reason(status, message)
            for status, _, _, message, *_ in recent
            if status != Job.Status.COMPLETED
        )
        for reason in REASONS:
            failures.add_metric([reason], by_reason[reason])
        yield failures

    # --- backends -----------------------------------------------------------------------
    def _backends(self, backends: dict[int, Backend], recent: list[tuple]) -> Iterator:
        names = ["backend"]
        healthy = GaugeMetricFamily(
            f"{PREFIX}_backend_healthy", "1 if the backend answered its last probe.", labels=names
        )
        enabled = GaugeMetricFamily(
            f"{PREFIX}_backend_enabled", "1 if the backend may take jobs.", labels=names
        )
        busy = GaugeMetricFamily(
            f"{PREFIX}_backend_busy", "1 if a job is running on the backend.", labels=names
        )
        info = GaugeMetricFamily(
            f"{PREFIX}_backend_info",
            "Always 1; the labels say what the backend is and which checkpoint it has loaded.",
            labels=["backend", "url", "checkpoint", "simulator"],
        )
        speed = GaugeMetricFamily(
            f"{PREFIX}_backend_iterations_per_second",
            f"Sampling steps per second of the jobs it completed in the last "
            f"{settings.HUB_METRICS_WINDOW_SECONDS} s (steps / run time, overheads included).",
            labels=names,
        )
        running = set(
            Job.objects.filter(status=Job.Status.RUNNING, backend__isnull=False).values_list(
                "backend_id", flat=True
            )
        )
        steps: dict[int, float] = defaultdict(float)
        seconds: dict[int, float] = defaultdict(float)
        for status, _, backend_id, _, _, started, finished, total in recent:
            if status == Job.Status.COMPLETED and backend_id and started and total:
                steps[backend_id] += total
                seconds[backend_id] += (finished - started).total_seconds()
        for pk, backend in backends.items():
            name = [str(backend)]
            healthy.add_metric(name, int(backend.healthy))
            enabled.add_metric(name, int(backend.enabled))
            busy.add_metric(name, int(pk in running))
            info.add_metric(
                [
                    str(backend),
                    backend.url,
                    backend.loaded_checkpoint,
                    str(backend.is_simulator).lower(),
                ],
                1,
            )
            if seconds.get(pk, 0) > 0:
                speed.add_metric(name, steps[pk] / seconds[pk])
        yield from (healthy, enabled, busy, info, speed)

    # --- the LoRA catalog ---------------------------------------------------------------
    def _loras(self) -> Iterator:
        scans = GaugeMetricFamily(
            f"{PREFIX}_lora_scans", "LoRA catalog scans on record, by status.", labels=["status"]
        )
        by_status = dict(ScanRun.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in ScanRun.Status.values:
            scans.add_metric([status], by_status.get(status, 0))
        yield scans
        last = (
            ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED, finished_at__isnull=False)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        if last:
            stamp = GaugeMetricFamily(
                f"{PREFIX}_lora_scan_last_success_timestamp_seconds",
                "When the last successful LoRA scan finished (Unix time).",
            )
            stamp.add_metric([], last.timestamp())
            yield stamp
        pending = GaugeMetricFamily(
            f"{PREFIX}_lora_hashes_pending", "LoRA files on disk whose sha256 is not known yet."
        )
        pending.add_metric([], pending_hashes().count())
        yield pending

    # --- webhooks -----------------------------------------------------------------------
    def _communities(self, now) -> Iterator:
        """Budget units charged (not refunded) and requests by verdict, per community,
        over the last 24 hours."""
        since = now - timedelta(hours=24)
        units = GaugeMetricFamily(
            f"{PREFIX}_community_units_24h",
            "Budget units charged in the last 24 h (refunds taken off), by community.",
            labels=["community"],
        )
        rows = (
            Charge.objects.filter(created_at__gte=since, refunded=False)
            .values_list("community_id")
            .annotate(total=Sum("units"))
            .order_by()
        )
        for community_id, total in rows:
            units.add_metric([community_id], float(total or 0))
        yield units
        verdicts = GaugeMetricFamily(
            f"{PREFIX}_community_requests_24h",
            "Requests made in a community in the last 24 h, by verdict (admitted, "
            "downgraded, refused).",
            labels=["community", "verdict"],
        )
        rows = (
            AuditEntry.objects.filter(created_at__gte=since)
            .values_list("community_id", "verdict")
            .annotate(n=Count("id"))
            .order_by()
        )
        for community_id, verdict, n in rows:
            verdicts.add_metric([community_id, verdict], n)
        yield verdicts

    def _webhooks(self) -> Iterator:
        """Webhook deliveries by status, once the generation app records them (a model
        named WebhookDelivery with a ``status`` field); nothing before that."""
        try:
            model = apps.get_model("generation_app", "WebhookDelivery")
        except LookupError:
            return
        field = next((f for f in model._meta.get_fields() if f.name == "status"), None)
        if field is None:
            return
        deliveries = GaugeMetricFamily(
            f"{PREFIX}_webhook_deliveries",
            "Webhook deliveries on record, by status.",
            labels=["status"],
        )
        counts = {str(value): 0 for value, _ in (field.choices or [])}
        rows = model.objects.values_list("status").annotate(n=Count("pk")).order_by()
        for status, n in rows:
            counts[str(status)] = n
        for status, n in sorted(counts.items()):
            deliveries.add_metric([status], n)
        yield deliveries
