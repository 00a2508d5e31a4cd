"""The registry of A1111 backends: configured ones become rows, and each gets a client."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from a1111.client import A1111Client, A1111Error
from a1111.messages import actionable_message
from backends.models import Backend

logger = logging.getLogger(__name__)

DEFAULT_A1111_URL = "http://127.0.0.1:7860"


def configured_urls() -> list[str]:
    return [u.rstrip("/") for u in settings.A1111_URLS] or [DEFAULT_A1111_URL]


def sync_configured_backends(urls: list[str] | None = None) -> list[Backend]:
    """Make the backends named in configuration the enabled ones; return the enabled rows.

    A row created from configuration that is no longer named is disabled, as is a
    simulator row of an earlier run. Rows added in the admin are left as they are.
    """
    urls = [u.rstrip("/") for u in urls] if urls is not None else configured_urls()
    for url in urls:
        backend, created = Backend.objects.get_or_create(
            url=url, defaults={"name": url, "from_config": True}
        )
        if not created and not backend.enabled and backend.from_config:
            Backend.objects.filter(pk=backend.pk).update(enabled=True)
    stale = Backend.objects.exclude(url__in=urls).filter(Q(from_config=True) | Q(is_simulator=True))
    stale.update(enabled=False)
    return list(Backend.objects.filter(enabled=True))


def enabled_backends() -> list[Backend]:
    backends = list(Backend.objects.filter(enabled=True))
    return backends or sync_configured_backends()


def client_for(backend: Backend, **timeouts: float) -> A1111Client:
    return A1111Client(backend.url, auth=backend.auth or None, **timeouts)


def probe(backend: Backend) -> dict:
    """Ask one backend how it is, with cheap calls only. No database access, so that
    several backends can be probed from threads at once."""
    client = client_for(backend, read_timeout=5.0)
    report = {
        "url": backend.url,
        "name": backend.name or backend.url,
        "reachable": False,
        "response_ms": None,
        "loaded_checkpoint": None,
        "busy": None,
        "is_simulator": backend.is_simulator,
        "error": None,
    }
    try:
        rtt = client.ping()
        progress = client.progress()
        try:
            options = client.options()
        except A1111Error as exc:
            if exc.failure not in ("timeout", "dropped"):
                raise
            # A1111 answers, but /options is slow (it is while a model loads or a big job
            # runs): the backend is up. Never call it unhealthy for that.
            options = {}
            report["error"] = f"{exc.url}: /sdapi/v1/options is slow ({exc.message})."
    except A1111Error as exc:
        report["error"] = actionable_message(exc)
        return report
    finally:
        client.close()
    state = progress.get("state") or {}
    report.update(
        reachable=True,
        response_ms=round(rtt * 1000, 1),
        loaded_checkpoint=options.get("sd_model_checkpoint"),
        busy=bool(state.get("job_count")) or bool(state.get("job")),
        is_simulator=client.is_simulator,
    )
    return report


def record_probe(backend: Backend, report: dict) -> None:
    """Keep what a probe learned on the backend's row (health drives job routing)."""
    fields = {
        "healthy": report["reachable"],
        "last_error": report["error"] or "",
        "last_checked_at": timezone.now(),
    }
    if report["reachable"]:
        fields["is_simulator"] = report["is_simulator"]
        if report["loaded_checkpoint"]:  # unknown when /options was slow: keep what we knew
            fields["loaded_checkpoint"] = report["loaded_checkpoint"]
    Backend.objects.filter(pk=backend.pk).update(**fields)


def mark_unhealthy(backend: Backend, error: str) -> None:
    """Job routing skips an unhealthy backend until it is probed again."""
    Backend.objects.filter(pk=backend.pk).update(
        healthy=False, last_error=error, last_checked_at=timezone.now()
    )


def interrupt(backend: Backend) -> bool:
    """Ask a backend to stop what it runs (global in A1111: callers make sure it is theirs).
    A failure is logged, not raised: the caller has a job to finish either way."""
    client = client_for(backend, read_timeout=5.0)
    try:
        client.interrupt()
        return True
    except A1111Error as exc:
        logger.warning("Interrupt on %s failed: %s", backend.url, exc)
        return False
    finally:
        client.close()
