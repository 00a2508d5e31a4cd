"""Health: is the hub able to serve right now (database, queue broker, one backend)?"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
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


def health() -> tuple[dict[str, Any], bool]:
    """The health report and whether the hub can serve (database, broker, one backend)."""
    database = database_status()
    broker = broker_status()
    backends = enabled_backends() if database["reachable"] else []
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(backends)))) as pool:
        reports = list(pool.map(probe, backends))
    for backend, report in zip(backends, reports, strict=True):
        record_probe(backend, report)
    simulated = [r["url"] for r in reports if r["is_simulator"]]
    ok = database["reachable"] and broker["reachable"] and any(r["reachable"] for r in reports)
    body = {
        "status": "ok" if ok else "unavailable",
        "version": settings.HUB_VERSION,
        "time": timezone.now().isoformat(),
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
