"""Health: is the hub able to serve right now (database, queue broker, one backend)?"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from backends.registry import enabled_backends, probe, record_probe


def database_status() -> dict[str, Any]:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {
            "reachable": True,
            "vendor": connection.vendor,
            "response_ms": round((time.perf_counter() - start) * 1000, 1),
        }
    except Exception as exc:  # any driver error means "not reachable"
        return {"reachable": False, "vendor": connection.vendor, "error": str(exc)}


def broker_status() -> dict[str, Any]:
    from django_q.brokers import get_broker

    kind = "redis" if settings.REDIS_URL else "orm"
    try:
        broker = get_broker()
        reachable = bool(broker.ping())
        depth = broker.queue_size()
    except Exception as exc:  # a broker down raises its own driver's errors
        return {"kind": kind, "reachable": False, "error": str(exc)}
    return {"kind": kind, "reachable": reachable, "queue_depth": depth}


PROBE_CACHE_KEY = "backends:health-probe"


def probe_all() -> list[dict[str, Any]]:
    """Ask every enabled backend how it is (in parallel) and keep the answers on their rows.
    The housekeeping sweep does this every minute; a keyed GET /health at most every
    HUB_HEALTH_PROBE_SECONDS."""
    backends = enabled_backends()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(backends)))) as pool:
        reports = list(pool.map(probe, backends))
    for backend, report in zip(backends, reports, strict=True):
        record_probe(backend, report)
    return reports


def recorded_reports() -> list[dict[str, Any]]:
    """What the last probes found, from the rows: no backend call, no write."""
    return [
        {
            "url": b.url,
            "name": b.name or b.url,
            "reachable": b.healthy,
            "response_ms": None,
            "loaded_checkpoint": b.loaded_checkpoint or None,
            "busy": None,
            "is_simulator": b.is_simulator,
            "error": b.last_error or None,
            "checked_at": b.last_checked_at.isoformat() if b.last_checked_at else None,
        }
        for b in enabled_backends()  # (rows made from A1111_URL the first time only)
    ]


def health(probe_backends: bool = False) -> tuple[dict[str, Any], bool]:
    """The health report and whether the hub can serve (database, broker, one backend).

    Without ``probe_backends`` it is a liveness answer from recorded state, cheap enough
    for any load balancer; with it, the backends are asked now (cached a few seconds)."""
    database = database_status()
    broker = broker_status()
    if not database["reachable"]:
        reports = []
    elif probe_backends:
        reports = cache.get(PROBE_CACHE_KEY)
        if reports is None:
            reports = probe_all()
            cache.set(PROBE_CACHE_KEY, reports, settings.HUB_HEALTH_PROBE_SECONDS)
    else:
        reports = recorded_reports()
    simulated = [r["url"] for r in reports if r["is_simulator"]]
    ok = database["reachable"] and broker["reachable"] and any(r["reachable"] for r in reports)
    body = {
        "status": "ok" if ok else "unavailable",
        "version": settings.HUB_VERSION,
        "time": timezone.now().isoformat(),
        "probed": probe_backends,
        "database": database,
        "queue": broker,
        "backends": reports,
        "simulator": bool(simulated),
    }
    if simulated:
        body["warning"] = (
            "Backend(s) "
            + ", ".join(simulated)
            + " are a1111sim, the built-in simulator: images are test patterns, not Stable "
            "Diffusion. Point A1111_URL at a real A1111 started with --api."
        )
    return body, ok


PUBLIC_FIELDS = ("status", "time", "probed", "simulator")


def public_view(body: dict[str, Any]) -> dict[str, Any]:
    """What anyone may read: whether the hub can serve, not where its backends are, what
    they have loaded or how deep the queue is (those need a key)."""
    public = {key: body[key] for key in PUBLIC_FIELDS}
    if body["simulator"]:
        public["warning"] = (
            "A backend is a1111sim, the built-in simulator: images are test patterns. "
            "Send an API key for the details."
        )
    return public
