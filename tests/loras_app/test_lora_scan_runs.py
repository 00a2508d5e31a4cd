"""How scans run: on the housekeeping queue (never in a generation slot), quietly from the
command, and with the merge handed what the sources fetched (no HTTP inside it)."""

from __future__ import annotations

import ast
import io
import json
import logging
import struct
from pathlib import Path

import pytest
from django.core.management import call_command
from django_q.brokers import get_broker
from django_q.models import Schedule

from loras_app import hashing, selectors
from loras_app.models import Lora, ScanRun, is_backend_source
from loras_app.scan import items, merge, runs
from loras_app.scan.items import BackendListing


def write_lora(path: Path, output_name: str) -> Path:
    raw = json.dumps(
        {
            "__metadata__": {"ss_output_name": output_name},
            "w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        }
    ).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0\1\2\3")
    return path


def test_a_queued_scan_and_its_hashing_run_on_the_housekeeping_queue(
    api, housekeeping, tmp_path, settings
):
    settings.LORA_DIR = str(tmp_path)
    settings.LORA_HASH_IN_BACKGROUND = True
    write_lora(tmp_path / "queued.safetensors", "queued")

    response = api.post("/loras/scan", {}, format="json")

    assert response.status_code == 202
    assert housekeeping.broker.queue_size() == 1
    assert get_broker().queue_size() == 0  # nothing waits for a generation worker
    assert housekeeping.drain() == 2  # the scan, then the background hashing it queued
    run = ScanRun.objects.get(pk=response.json()["scan_id"])
    assert run.status == ScanRun.Status.SUCCEEDED and run.added == 1
    assert Lora.objects.get().sha256  # hashed by the housekeeping worker


@pytest.mark.django_db
def test_the_schedule_runs_on_the_housekeeping_queue(settings):
    settings.LORA_SCAN_INTERVAL_MINUTES = 30
    runs.ensure_schedule()
    schedule = Schedule.objects.get(name=runs.SCHEDULE_NAME)
    assert schedule.cluster == settings.HUB_HOUSEKEEPING_QUEUE


@pytest.mark.django_db(transaction=True)
def test_the_scan_command_prints_no_queue_log(tmp_path, settings, caplog, capfd):
    settings.LORA_HASH_IN_BACKGROUND = True
    write_lora(tmp_path / "quiet.safetensors", "quiet")
    queue = get_broker(settings.HUB_HOUSEKEEPING_QUEUE)
    queue.purge_queue()
    caplog.set_level(logging.INFO)
    level = logging.getLogger("django-q").level
    out, err = io.StringIO(), io.StringIO()

    call_command("scan_loras", "--dir", str(tmp_path), stdout=out, stderr=err)

    assert queue.queue_size() == 1  # the background hashing was queued...
    printed = capfd.readouterr()
    everything = out.getvalue() + err.getvalue() + printed.out + printed.err + caplog.text
    assert "Enqueued" not in everything  # ...without django-q2 saying so
    assert "added 1, updated 0, unchanged 0" in out.getvalue()
    assert logging.getLogger("django-q").level == level  # put back as it was


@pytest.mark.django_db
def test_the_merge_takes_a_fetched_listing_and_makes_no_http():
    url = "http://127.0.0.1:9"  # nothing listens there: an HTTP call would raise
    entries = [
        {"name": "fetched", "path": "/sd/models/Lora/sub/fetched.safetensors", "metadata": {}},
        {"name": "top", "path": "/sd/models/Lora/top.safetensors"},
        "not an entry",
    ]
    found, issues = items.from_a1111_listing(url, entries)
    run = ScanRun.objects.create(source=url)

    scan = merge.Merge(run, merge.no_progress)
    seen = scan.from_a1111(BackendListing(urls={url}, items=found, issues=issues))
    scan.finish(prune=False)

    assert seen == 2 and run.added == 2 and run.error_count == 1
    row = Lora.objects.get(filename="fetched.safetensors")
    assert (row.relative_path, row.source) == ("sub/fetched.safetensors", url)


@pytest.mark.parametrize("module", [merge, items])
def test_the_merge_and_its_items_import_no_http_client(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"a1111", "backends", "requests", "urllib3", "httpx"}
    assert "loras_app.scan.sources" not in imported


@pytest.mark.django_db
def test_one_rule_tells_a_backend_source_from_a_folder(tmp_path):
    assert is_backend_source("http://127.0.0.1:7860")
    assert is_backend_source("https://a1111.example")
    assert not is_backend_source(str(tmp_path))
    assert not is_backend_source("")
    (tmp_path / "p.png").write_bytes(b"\x89PNG")
    common = {"prompt_name": "p", "relative_path": "p.safetensors", "preview": "p.png"}
    listed = Lora.objects.create(filename="a.safetensors", source="https://a1111.example", **common)
    on_disk = Lora.objects.create(filename="b.safetensors", source=str(tmp_path), **common)
    assert listed.from_backend and not on_disk.from_backend
    assert list(hashing.pending_hashes()) == [on_disk]  # a listed LoRA has no file to hash
    assert selectors.preview_path(listed) is None
    assert selectors.preview_path(on_disk) == (tmp_path / "p.png").resolve()
