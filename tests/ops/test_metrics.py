"""GET /metrics: Prometheus text, read from the database, after jobs ran through real
workers (the in-process django-q2 cluster) against a1111sim over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core.models import ApiKey
from generation_app.models import Job
from loras_app.models import ScanRun
from ops.failures import failure_reason


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def value(families: dict, name: str, sample: str | None = None, **labels) -> float:
    """The value of the sample of ``name`` (or of ``sample``) whose labels include ``labels``."""
    matches = [
        s.value
        for s in families[name].samples
        if s.name == (sample or name) and labels.items() <= s.labels.items()
    ]
    assert len(matches) == 1, (name, labels, families[name].samples)
    return matches[0]


def submit(api, user_id: str, **body) -> str:
    response = api.post(
        "/generate/txt2img", {"user_id": user_id, "prompt": "x", **body}, format="json"
    )
    assert response.status_code == 202, response.json()
    return response.json()["job_id"]


def test_metrics_reflect_jobs_run_by_real_workers(api, backend, cluster, sim):
    submit(api, "alice", steps=10)
    submit(api, "bob", steps=10)
    assert cluster.drain() == 1  # one dispatcher runs both
    requests.post(
        f"{sim.url}/sim/faults",
        json={"fail_rate": 1.0, "fail_status": 500, "fail_message": "boom"},
        timeout=5,
    ).raise_for_status()
    submit(api, "carol")
    cluster.drain()
    submit(api, "dave")  # left queued: no worker runs now
    submit(api, "dave")
    ScanRun.objects.create(status=ScanRun.Status.SUCCEEDED, finished_at=timezone.now())

    families = scrape(api)

    name = str(backend)
    assert value(families, "a1111hub_jobs", state="completed", kind="txt2img", backend=name) == 2
    assert value(families, "a1111hub_jobs", state="failed", kind="txt2img", backend=name) == 1
    assert value(families, "a1111hub_jobs", state="queued", kind="txt2img", backend="none") == 2
    assert value(families, "a1111hub_user_queued_jobs", user="dave") == 2
    assert value(families, "a1111hub_queue_users") == 1
    assert value(families, "a1111hub_queue_oldest_wait_seconds") >= 0
    assert value(families, "a1111hub_recent_jobs_finished", state="completed") == 2
    assert value(families, "a1111hub_recent_job_failures", reason="a1111_error") == 1
    assert value(families, "a1111hub_recent_job_failures", reason="timeout") == 0

    # Three jobs started: each one's wait and run time is in the histograms.
    wait = "a1111hub_job_queue_wait_seconds"
    assert value(families, wait, f"{wait}_count") == 3
    assert value(families, wait, f"{wait}_bucket", le="+Inf") == 3
    run = "a1111hub_job_run_seconds"
    assert value(families, run, f"{run}_count") == 3
    assert value(families, run, f"{run}_sum") > 0

    assert value(families, "a1111hub_backend_healthy", backend=name) == 1
    assert value(families, "a1111hub_backend_enabled", backend=name) == 1
    assert value(families, "a1111hub_backend_busy", backend=name) == 0
    backend.refresh_from_db()
    info = value(
        families, "a1111hub_backend_info", backend=name, url=backend.url, simulator="false"
    )
    assert info == 1
    assert value(families, "a1111hub_backend_iterations_per_second", backend=name) > 0
    assert value(families, "a1111hub_lora_scans", status="succeeded") == 1
    assert value(families, "a1111hub_lora_scans", status="failed") == 0
    assert "a1111hub_lora_scan_last_success_timestamp_seconds" in families
    assert "a1111hub_lora_hashes_pending" in families
    assert value(families, "a1111hub_event_streams_open") == 0


def test_only_the_top_users_are_listed(api, backend, settings):
    settings.HUB_METRICS_TOP_USERS = 2
    settings.HUB_MAX_ACTIVE_JOBS_PER_USER = 10
    for user, count in (("a", 3), ("b", 2), ("c", 1)):
        for _ in range(count):
            submit(api, user)
    families = scrape(api)
    users = {s.labels["user"]: s.value for s in families["a1111hub_user_queued_jobs"].samples}
    assert users == {"a": 3, "b": 2}
    assert value(families, "a1111hub_queue_users") == 3


def test_the_window_leaves_old_jobs_out_of_the_histograms(api, backend):
    long_ago = timezone.now() - timedelta(hours=3)
    Job.objects.create(
        user_id="u",
        kind="txt2img",
        status=Job.Status.COMPLETED,
        backend=backend,
        started_at=long_ago,
        finished_at=long_ago + timedelta(seconds=5),
        total_steps=20,
    )
    families = scrape(api)
    assert value(families, "a1111hub_job_run_seconds", "a1111hub_job_run_seconds_count") == 0
    assert value(families, "a1111hub_jobs", state="completed") == 1


def test_a_scrape_token_works_without_an_api_key(client, db, settings):
    settings.HUB_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code in (401, 403)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    families = scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert "a1111hub_jobs" in families


def test_a_user_key_may_not_read_metrics(client, db):
    raw = ApiKey.generate("phone", user_id="alice")[1]
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403


@pytest.mark.parametrize(
    "status, message, reason",
    [
        (
            "failed",
            "Backend unreachable: connection refused. Is A1111 running",
            "backend_unreachable",
        ),
        ("failed", "A1111 failed (HTTP 500): CUDA out of memory.", "a1111_error"),
        ("failed", "A1111 at http://x did not answer within 1800 s (timed out)", "timeout"),
        ("failed", "The worker running this job stopped responding (no heartbeat", "worker_died"),
        ("cancelled", "Cancelled before it started.", "cancelled"),
        ("failed", "No A1111 backend is configured or enabled.", "no_backend"),
        ("failed", "No enabled backend has the checkpoint 'x' any more.", "no_backend"),
        ("failed", "No A1111 backend became free within 3600 s.", "no_backend"),
        ("failed", "Internal error in the hub (KeyError); it was logged.", "other"),
    ],
)
def test_failures_are_classified_into_stable_reasons(status, message, reason):
    assert failure_reason(status, message) == reason


def test_the_grafana_dashboard_only_uses_metrics_the_hub_exports(api, backend):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "ops/grafana-dashboard.json").read_text())
    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"a1111hub_[a-z_]+", target["expr"])
    }
    exported = set(scrape(api)) | {"a1111hub_webhook_deliveries"}  # once that model exists
    assert used - exported == set()
