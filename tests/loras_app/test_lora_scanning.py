"""Scanning LoRA files from a folder and from A1111 into the catalog."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule
from safetensors.numpy import save_file

from a1111sim.loras import addnet_hash
from backends.models import Backend
from core.errors import Conflict
from loras_app import edits
from loras_app.models import Lora, ScanRun
from loras_app.scan import lock, merge, runs, sources

pytestmark = pytest.mark.django_db


def write_lora(path: Path, metadata: dict | None = None, payload: bytes = b"\0" * 64) -> Path:
    """A valid safetensors file written by hand: one tensor, optional __metadata__."""
    header: dict = {
        "w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}
    }
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)
    return path


def kohya(output_name: str, **extra) -> dict:
    meta = {
        "ss_output_name": output_name,
        "ss_base_model_version": "sd_v1",
        "ss_sd_model_name": "animefull_final.safetensors",
        "ss_tag_frequency": json.dumps({"10_x": {"chara": 40, "1girl": 40, "smile": 12}}),
    }
    meta.update(extra)
    return meta


def scan(root: Path, **kwargs) -> ScanRun:
    run = runs.scan(sources.Source(directory=str(root)), **kwargs)
    assert run.status == ScanRun.Status.SUCCEEDED, run.message
    return run


def test_it_catalogs_real_safetensors_files_with_their_metadata(tmp_path):
    save_file(
        {"lora_up": np.zeros((4, 4), dtype=np.float16)},
        str(tmp_path / "character_lora.safetensors"),
        metadata=kohya("character_lora"),
    )
    write_lora(
        tmp_path / "xl" / "neon_city.safetensors",
        {
            "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
            "modelspec.title": "Neon City",
        },
    )
    (tmp_path / "xl" / "neon_city.preview.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "xl" / "neon_city.json").write_text(
        json.dumps(
            {"activation text": "neon, city lights", "preferred weight": 0.7, "description": "Glow"}
        )
    )
    (tmp_path / "legacy.pt").write_bytes(b"pickle")
    (tmp_path / "notes.txt").write_text("not a lora")

    run = scan(tmp_path)

    assert (run.added, run.error_count) == (3, 0)
    chara = Lora.objects.get(filename="character_lora.safetensors")
    assert chara.base_model == "SD1.5"
    assert chara.prompt_name == "character_lora"
    assert chara.trigger_words == ["1girl", "chara"]  # the tags every image carries
    assert [(t.tag.name, t.frequency) for t in chara.lora_tags.all()] == [
        ("1girl", 40),
        ("chara", 40),
        ("smile", 12),
    ]
    assert chara.metadata["ss_output_name"] == "character_lora"
    neon = Lora.objects.get(filename="neon_city.safetensors")
    assert (neon.name, neon.base_model, neon.relative_path) == (
        "Neon City",
        "SDXL",
        "xl/neon_city.safetensors",
    )
    assert (neon.trigger_words, neon.preferred_weight, neon.description) == (
        ["neon", "city lights"],
        0.7,
        "Glow",
    )
    assert neon.preview == "xl/neon_city.preview.png"
    assert Lora.objects.get(filename="legacy.pt").metadata == {}


def test_it_uses_the_stem_when_two_files_share_an_alias(tmp_path):
    write_lora(tmp_path / "a.safetensors", kohya("shared"))
    write_lora(tmp_path / "b.safetensors", kohya("shared"))
    write_lora(tmp_path / "c.safetensors", kohya("unique_alias"))
    write_lora(tmp_path / "d.safetensors", kohya("none"))
    scan(tmp_path)
    names = dict(Lora.objects.values_list("filename", "prompt_name"))
    assert names == {
        "a.safetensors": "a",
        "b.safetensors": "b",
        "c.safetensors": "unique_alias",
        "d.safetensors": "d",
    }


def test_it_skips_unchanged_files_and_rereads_changed_ones(tmp_path):
    one = write_lora(tmp_path / "one.safetensors", kohya("one"))
    write_lora(tmp_path / "two.safetensors", kohya("two"))
    scan(tmp_path)

    again = scan(tmp_path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)

    write_lora(one, kohya("one", ss_base_model_version="sdxl_base_v1-0"), payload=b"\1" * 128)
    changed = scan(tmp_path)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)
    assert Lora.objects.get(filename="one.safetensors").base_model == "SDXL"


def test_it_marks_vanished_loras_missing_and_revives_them(tmp_path):
    gone = write_lora(tmp_path / "gone.safetensors", kohya("gone"))
    write_lora(tmp_path / "stays.safetensors", kohya("stays"))
    scan(tmp_path)
    content = gone.read_bytes()
    gone.unlink()

    run = scan(tmp_path)
    assert run.missing == 1
    assert Lora.objects.get(filename="gone.safetensors").missing is True

    gone.write_bytes(content)
    scan(tmp_path)
    assert Lora.objects.get(filename="gone.safetensors").missing is False


def test_prune_deletes_rows_whose_file_is_gone(tmp_path):
    gone = write_lora(tmp_path / "gone.safetensors", kohya("gone"))
    scan(tmp_path)
    gone.unlink()
    run = scan(tmp_path, prune=True)
    assert run.pruned == 1
    assert not Lora.objects.filter(filename="gone.safetensors").exists()


def test_it_recognises_a_renamed_file_by_its_hash(tmp_path):
    old = write_lora(tmp_path / "old_name.safetensors", kohya("x"), payload=os.urandom(256))
    scan(tmp_path, hashes=True)
    row = Lora.objects.get(filename="old_name.safetensors")
    row.enabled = False
    row.save()
    old.rename(tmp_path / "new_name.safetensors")

    run = scan(tmp_path)

    assert (run.added, run.moved) == (0, 1)
    row.refresh_from_db()
    assert (row.filename, row.missing, row.enabled) == ("new_name.safetensors", False, False)


def test_it_follows_a_file_moved_to_another_folder(tmp_path):
    f = write_lora(tmp_path / "a" / "moving.safetensors", kohya("moving"))
    scan(tmp_path)
    (tmp_path / "b").mkdir()
    f.rename(tmp_path / "b" / "moving.safetensors")
    run = scan(tmp_path)
    assert (run.added, run.moved, run.missing) == (0, 1, 0)
    assert Lora.objects.get(filename="moving.safetensors").relative_path == "b/moving.safetensors"


def test_two_folders_may_hold_the_same_file_name(tmp_path):
    write_lora(tmp_path / "a" / "same.safetensors", kohya("same"))
    write_lora(tmp_path / "b" / "same.safetensors", kohya("same"))
    run = scan(tmp_path)
    assert run.added == 2
    filenames = sorted(Lora.objects.values_list("filename", flat=True))
    assert filenames in (
        ["a/same.safetensors", "same.safetensors"],
        ["b/same.safetensors", "same.safetensors"],
    )
    assert scan(tmp_path).unchanged == 2


MALFORMED = {
    "empty.safetensors": (b"", "empty file"),
    "tiny.safetensors": (b"\1\2\3", "truncated"),
    "past_end.safetensors": (struct.pack("<Q", 500) + b'{"a":1}', "runs past the end"),
    "huge.safetensors": (struct.pack("<Q", 1 << 40) + b"{}", "absurdly large"),
    "latin1.safetensors": (struct.pack("<Q", 6) + b'{"\xe9":1}', "not UTF-8"),
    "broken_json.safetensors": (struct.pack("<Q", 5) + b'{"a":', "not valid JSON"),
    "array.safetensors": (struct.pack("<Q", 2) + b"[]", "not an object"),
}


def test_bad_files_are_recorded_as_errors_and_never_stop_the_scan(tmp_path):
    for name, (content, _) in MALFORMED.items():
        (tmp_path / name).write_bytes(content)
    write_lora(tmp_path / "good.safetensors", kohya("good"))
    write_lora(tmp_path / "odd_values.safetensors", {"ss_output_name": "odd", "ss_epoch": 3})
    write_lora(tmp_path / "odd_meta.safetensors", None)
    raw = json.dumps({"__metadata__": ["not", "a", "dict"]}).encode()
    (tmp_path / "list_meta.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    write_lora(tmp_path / "bad_tags.safetensors", {"ss_tag_frequency": "{nope"})

    run = scan(tmp_path)

    reasons = {e["path"]: e["reason"] for e in run.errors}
    for name, (_, reason) in MALFORMED.items():
        assert reason in reasons[name], (name, reasons.get(name))
    assert "'ss_epoch' is a int" in reasons["odd_values.safetensors"]
    assert "__metadata__ is a list" in reasons["list_meta.safetensors"]
    assert "ss_tag_frequency is not valid JSON" in reasons["bad_tags.safetensors"]
    assert set(Lora.objects.values_list("filename", flat=True)) == {
        "good.safetensors",
        "odd_values.safetensors",
        "odd_meta.safetensors",
        "list_meta.safetensors",
        "bad_tags.safetensors",
    }
    assert Lora.objects.get(filename="odd_values.safetensors").metadata == {"ss_output_name": "odd"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_an_error_not_a_crash(tmp_path):
    locked = write_lora(tmp_path / "locked.safetensors", kohya("locked"))
    locked.chmod(0)
    run = scan(tmp_path)
    assert "Permission denied" in run.errors[0]["reason"]


def test_symlinks_that_loop_or_leave_the_root_are_refused(tmp_path):
    root = tmp_path / "loras"
    write_lora(root / "inside.safetensors", kohya("inside"))
    outside = write_lora(tmp_path / "elsewhere" / "outside.safetensors", kohya("outside"))
    (root / "link_out.safetensors").symlink_to(outside)
    (root / "sub").mkdir()
    (root / "sub" / "back_up").symlink_to(root, target_is_directory=True)
    (root / "self_loop.safetensors").symlink_to(root / "self_loop.safetensors")
    (root / "alias.safetensors").symlink_to(root / "inside.safetensors")

    run = scan(root)

    reasons = {e["path"]: e["reason"] for e in run.errors}
    assert "outside the LoRA root" in reasons["link_out.safetensors"]
    assert "loop" in reasons["sub/back_up"]
    assert "loop" in reasons["self_loop.safetensors"]
    assert set(Lora.objects.values_list("filename", flat=True)) == {
        "inside.safetensors",
        "alias.safetensors",
    }


def test_hashes_match_what_a1111_reports(tmp_path):
    path = write_lora(tmp_path / "h.safetensors", kohya("h"), payload=os.urandom(1000))
    write_lora(tmp_path / "given.safetensors", kohya("given", sshs_model_hash="ABCDEF0123456789"))
    run = scan(tmp_path, hashes=True)
    assert run.hashed == 2
    row = Lora.objects.get(filename="h.safetensors")
    assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row.short_hash == addnet_hash(path)[:12]
    assert Lora.objects.get(filename="given.safetensors").short_hash == "abcdef012345"


def test_a_changed_file_loses_its_stale_hash(tmp_path):
    path = write_lora(tmp_path / "h.safetensors", kohya("h"))
    scan(tmp_path, hashes=True)
    write_lora(path, kohya("h"), payload=b"\7" * 300)
    scan(tmp_path)
    assert Lora.objects.get(filename="h.safetensors").sha256 == ""


def test_a_rescan_keeps_what_was_edited_by_hand(tmp_path):
    path = write_lora(tmp_path / "e.safetensors", kohya("e"))
    scan(tmp_path)
    row = Lora.objects.get()
    row.name, row.preferred_weight = "My Favourite", 0.6
    row.save()
    edits.mark_edited(row, ["name", "preferred_weight"])
    write_lora(path, kohya("e", ss_base_model_version="sdxl_base_v1-0"), payload=b"\2" * 99)
    scan(tmp_path)
    row.refresh_from_db()
    assert (row.name, row.preferred_weight, row.base_model) == ("My Favourite", 0.6, "SDXL")


def test_two_scans_never_run_at_once(tmp_path):
    write_lora(tmp_path / "x.safetensors", kohya("x"))
    queued = runs.start_scan(sources.Source(directory=str(tmp_path)))
    with pytest.raises(Conflict):
        runs.scan(sources.Source(directory=str(tmp_path)))
    finished = runs.run_queued_scan(queued.pk)
    assert finished.status == ScanRun.Status.SUCCEEDED
    assert runs.run_queued_scan(queued.pk) is None  # delivered twice: runs once
    scan(tmp_path)  # the lock was released


def test_a_stale_lock_expires(tmp_path, settings):
    settings.LORA_SCAN_LOCK_SECONDS = -1  # every lock is already past its expiry
    assert lock.acquire_lock(12345)
    assert lock.acquire_lock(67890)


def test_scan_command_prints_a_summary(tmp_path):
    write_lora(tmp_path / "cmd.safetensors", kohya("cmd"))
    (tmp_path / "bad.safetensors").write_bytes(b"")
    out, err = io.StringIO(), io.StringIO()
    call_command("scan_loras", "--dir", str(tmp_path), stdout=out, stderr=err)
    assert "added 1, updated 0, unchanged 0, moved 0, missing 0, errors 1" in out.getvalue()
    assert "bad.safetensors: empty file" in err.getvalue()


def test_scan_command_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("scan_loras", "--dir", str(tmp_path / "nope"), stdout=io.StringIO())


def test_it_scans_the_loras_a1111_lists(backend, sim):
    out = io.StringIO()
    call_command("scan_loras", "--from-a1111", stdout=out)
    listed = {
        Path(e["path"]).name for e in requests.get(f"{sim.url}/sdapi/v1/loras", timeout=10).json()
    }
    rows = set(Lora.objects.values_list("filename", flat=True))
    assert "character_lora.safetensors" in rows
    assert rows == listed
    chara = Lora.objects.get(filename="character_lora.safetensors")
    assert chara.source == backend.url
    assert chara.base_model == "SD1.5"
    assert "1girl" in [t.tag.name for t in chara.lora_tags.all()]
    assert "unchanged" in out.getvalue()

    again = runs.scan(sources.resolve_source(from_a1111=True))
    assert again.unchanged == len(rows) and again.added == 0


def test_an_unreachable_backend_marks_nothing_missing(db, unused_port, tmp_path):
    Lora.objects.create(
        filename="keep.safetensors",
        name="keep",
        prompt_name="keep",
        relative_path="keep.safetensors",
        source=f"http://127.0.0.1:{unused_port}",
    )
    Backend.objects.create(url=f"http://127.0.0.1:{unused_port}")
    run = runs.scan(sources.resolve_source(from_a1111=True))
    assert run.error_count >= 1 and "cannot list LoRAs" in run.errors[-1]["reason"]
    assert Lora.objects.get().missing is False


def test_the_schedule_is_created_once_and_can_be_switched_off(settings):
    settings.LORA_SCAN_INTERVAL_MINUTES = 15
    runs.ensure_schedule()
    runs.ensure_schedule()
    schedule = Schedule.objects.get(name=runs.SCHEDULE_NAME)
    assert (schedule.minutes, schedule.func) == (15, "loras_app.tasks.scheduled_scan")
    settings.LORA_SCAN_INTERVAL_MINUTES = 0
    runs.ensure_schedule()
    assert not Schedule.objects.filter(name=runs.SCHEDULE_NAME).exists()


def test_startup_scan_queues_a_scan_of_lora_dir(tmp_path, settings):
    settings.LORA_DIR = str(tmp_path)
    settings.LORA_SCAN_ON_START = True
    run = runs.startup_scan()
    assert run.status == ScanRun.Status.QUEUED and run.source == str(tmp_path.resolve())
    assert runs.startup_scan() is None  # one is already queued


def test_a_rescan_restamps_last_seen_only_when_it_is_older_than_the_precision(tmp_path):
    write_lora(tmp_path / "a.safetensors", kohya("a"))
    scan(tmp_path)
    first = Lora.objects.get().last_seen
    scan(tmp_path)
    assert Lora.objects.get().last_seen == first  # seen moments ago: no row rewritten
    Lora.objects.update(last_seen=first - merge.LAST_SEEN_PRECISION * 2)
    scan(tmp_path)
    assert Lora.objects.get().last_seen > first
