"""A bounded schemathesis run against the live /openapi.json of a real hub (runhub + the
simulator): every operation, the event streams included, a few generated requests each
(valid and invalid), every check but one — no 500, no undocumented status or content type,
no response or streamed event that breaks its schema, no invalid request accepted
(negative_data_rejection), no missing key accepted. What it found is pinned by ordinary
tests in tests/<app>/."""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi import checks
from systemhelpers import running_hub_port


def _document() -> dict:
    """The document /openapi.json serves, built by the same code in this process (the
    operations must be known when tests are collected, before the hub starts)."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    return document


_loaded = schemathesis.openapi.from_dict(_document())
_loaded.config.update(base_url=f"http://127.0.0.1:{running_hub_port()}")
if os.environ.get("DATABASE_URL"):
    # The coverage phase sends every case the schema defines: ~1,000 requests each for the
    # upload operations, 4 minutes on PostgreSQL. The SQLite pass of `.ci/run` runs it; the
    # PostgreSQL pass keeps the examples and the generated cases, to stay in CI's budget.
    _loaded.config.phases.update(phases=["examples", "fuzzing"])
schema = _loaded


def test_a_url_too_long_is_a_json_414(running_hub):
    """gunicorn refuses it before Django sees it; the hub's worker answers the JSON shape."""
    response = requests.get(f"{running_hub['base']}/loras?search={'x' * 9000}", timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "uri_too_long"


# The cancel links of the jobs and sweeps this worker's generated requests queued (the
# hub is every worker's: the generated client's job, say, is not this run's to cancel).
_cancel_links: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _cancel_fuzzed_jobs(running_hub):
    """Generated requests queue real jobs (up to 2048² x 16 on the simulator): cancel those
    still queued or running when this worker's run ends, so they do not load the machine
    for the rest of the suite."""
    yield
    headers = {"Authorization": f"Bearer {running_hub['key']}"}
    for link in _cancel_links:
        requests.post(link, headers=headers, timeout=10)


def _remember_what_was_queued(response) -> None:
    if response.status_code == 202:
        link = (response.json().get("links") or {}).get("cancel")
        if link:
            _cancel_links.append(link)


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_every_operation_conforms_to_the_openapi_document(case, running_hub):
    # Left out: positive_data_acceptance, because a schema-valid request naming a
    # checkpoint, LoRA or job the hub lacks is rightly a 400/404. Every other check runs,
    # negative_data_rejection included: what the document forbids, the hub refuses.
    _keep_off_the_internet(case)
    response = case.call_and_validate(
        excluded_checks=[checks.positive_data_acceptance],
        headers={"Authorization": f"Bearer {running_hub['key']}"},
        timeout=30,
    )
    _remember_what_was_queued(response)


def _keep_off_the_internet(case) -> None:
    """A generated webhook URL names a public host (``https://0.com``), which the hub
    resolves to refuse private targets: a DNS query that leaves this machine, and waits out
    the resolver's 5 s here (21 img2img cases took 105 s). A loopback address instead is
    refused without asking anyone, by the same rule (a 400 naming the field)."""
    url = case.body.get("webhook_url") if isinstance(case.body, dict) else None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        case.body["webhook_url"] = "https://127.0.0.1/hook"
