"""Catalog writes: THE scan (behind the command, the admin, the API, the schedule and the
start-up scan), the scan lock, background hashing, and enabling/disabling LoRAs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from a1111.client import A1111Error
from backends.models import Backend
from backends.registry import client_for, enabled_backends
from core.errors import ApiError, Conflict, NotFound
from loras_app import hashing, scanner, search
from loras_app.models import Lora, LoraTag, ScanLock, ScanRun, Tag

logger = logging.getLogger(__name__)

LOCK_NAME = "lora-scan"
SCHEDULE_NAME = "LoRA catalog scan"
MAX_RECORDED_ERRORS = 500
HEARTBEAT_SECONDS = 5.0
# Fields a person may edit in the admin; a later scan leaves an edited one alone.
EDITABLE = ("name", "trigger_words", "description", "preferred_weight", "tags")
Progress = Callable[[str, int, int], None]


# --- the lock -------------------------------------------------------------------------------
def acquire_lock(holder: int) -> bool:
    """Take the scan lock for ``holder`` unless a live scan has it (one atomic UPDATE)."""
    try:
        ScanLock.objects.get_or_create(name=LOCK_NAME)
    except IntegrityError:  # another process created it at the same instant
        pass
    now = timezone.now()
    free = Q(holder__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder)
    taken = ScanLock.objects.filter(free, name=LOCK_NAME).update(
        holder=holder, expires_at=now + timedelta(seconds=settings.LORA_SCAN_LOCK_SECONDS)
    )
    return taken == 1


def refresh_lock(holder: int) -> bool:
    """Push the expiry forward; False if the lock was lost (expired and taken)."""
    expires = timezone.now() + timedelta(seconds=settings.LORA_SCAN_LOCK_SECONDS)
    return ScanLock.objects.filter(name=LOCK_NAME, holder=holder).update(expires_at=expires) == 1


def release_lock(holder: int) -> None:
    ScanLock.objects.filter(name=LOCK_NAME, holder=holder).update(holder=None, expires_at=None)


def _busy() -> Conflict:
    lock = ScanLock.objects.filter(name=LOCK_NAME).first()
    other = lock.holder if lock else None
    return Conflict(
        f"A LoRA scan is already running (scan {other}); wait for it to finish: "
        f"GET /loras/scans/{other}.",
        code="scan_running",
        scan_id=other,
    )


# --- the scan -------------------------------------------------------------------------------
@dataclass
class Source:
    """Where a scan reads from: a folder, or the LoRA listing of some backends."""

    directory: str = ""
    backends: list[Backend] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.directory or ",".join(b.url for b in self.backends)


def resolve_source(
    directory: str | None = None, backend: str | None = None, from_a1111: bool = False
) -> Source:
    """--dir, else --from-a1111 [BACKEND], else LORA_DIR when set, else every backend."""
    if directory:
        path = Path(directory).expanduser()
        if not path.is_dir():
            raise ApiError(f"{directory} is not a folder.", code="invalid_directory")
        return Source(directory=str(path.resolve()))
    if not from_a1111 and not backend and settings.LORA_DIR:
        return resolve_source(directory=settings.LORA_DIR)
    backends = enabled_backends()
    if backend:
        backends = [b for b in Backend.objects.all() if backend in (b.name, b.url, str(b.pk))]
        if not backends:
            raise NotFound(f"No backend named {backend!r}; see the admin's Backends list.")
    return Source(backends=backends)


def start_scan(source: Source | None = None, hashes: bool = False, prune: bool = False) -> ScanRun:
    """Queue a scan and return its row at once; 409 if one is queued or running."""
    source = source or resolve_source()
    run = ScanRun.objects.create(source=source.label, hashes=hashes, prune=prune)
    if not acquire_lock(run.pk):
        error = _busy()
        run.delete()
        raise error
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("loras_app.tasks.run_scan", run.pk, task_name=f"lora-scan-{run.pk}")
    )
    return run


def scan(
    source: Source | None = None,
    *,
    hashes: bool = False,
    prune: bool = False,
    run: ScanRun | None = None,
    progress: Progress | None = None,
) -> ScanRun:
    """THE LoRA scan. Reads a folder (headers only) or backends' /sdapi/v1/loras, merges into
    the catalog, and returns the finished ScanRun. Raises Conflict if another scan runs.

    ``run`` is a ScanRun already holding the lock (queued by start_scan).
    """
    source = source or resolve_source()
    if run is None:
        run = ScanRun.objects.create(source=source.label, hashes=hashes, prune=prune)
        if not acquire_lock(run.pk):
            error = _busy()
            run.delete()
            raise error
    elif not acquire_lock(run.pk):
        return _finish(
            run, ScanRun.Status.FAILED, "Another scan took the lock (this one waited too long)."
        )
    started = time.perf_counter()
    run.status, run.started_at = ScanRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    merge = Merge(run, progress or _no_progress)
    try:
        if source.directory:
            seen = merge.from_disk(Path(source.directory))
        else:
            seen = merge.from_a1111(source.backends)
        merge.finish(prune)
        if hashes and source.directory:
            run.hashed = hash_pending(progress=progress)
        elif source.directory and settings.LORA_HASH_IN_BACKGROUND and pending_hashes().exists():
            from django_q.tasks import async_task

            transaction.on_commit(lambda: async_task("loras_app.tasks.hash_loras"))
        elapsed = time.perf_counter() - started
        run.files_per_second = round(seen / elapsed, 1) if elapsed > 0 else 0.0
        return _finish(run, ScanRun.Status.SUCCEEDED, merge.summary())
    except Exception as exc:
        logger.exception("LoRA scan %s failed", run.pk)
        return _finish(run, ScanRun.Status.FAILED, f"{exc.__class__.__name__}: {exc}")
    finally:
        release_lock(run.pk)


def _finish(run: ScanRun, status: str, message: str) -> ScanRun:
    run.status, run.message, run.finished_at = status, message, timezone.now()
    run.save()
    return run


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def summary_line(run: ScanRun) -> str:
    return (
        f"added {run.added}, updated {run.updated}, unchanged {run.unchanged}, "
        f"moved {run.moved}, missing {run.missing}, errors {run.error_count}, "
        f"{run.files_per_second:.0f} files/s"
    )


def run_queued_scan(scan_id: int) -> ScanRun | None:
    """The task body: run a scan queued by start_scan, once (delivery is at-least-once)."""
    run = ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.QUEUED).first()
    if run is None:
        return None
    try:
        source = _source_from_label(run.source)
    except ApiError as exc:
        release_lock(run.pk)
        return _finish(run, ScanRun.Status.FAILED, exc.detail)
    return scan(source, hashes=run.hashes, prune=run.prune, run=run)


def _source_from_label(label: str) -> Source:
    if label.startswith(("http://", "https://")):
        urls = label.split(",")
        return Source(backends=list(Backend.objects.filter(url__in=urls)))
    if not label:
        return Source(backends=[])
    return resolve_source(directory=label)


def scheduled_scan() -> ScanRun | None:
    """The schedule's body: scan the default source unless a scan is already running."""
    try:
        return scan()
    except Conflict:
        logger.info("Scheduled LoRA scan skipped: another scan is running.")
        return None


def startup_scan() -> ScanRun | None:
    """Call once when the hub starts: make sure the schedule exists, then queue a scan."""
    ensure_schedule()
    if not settings.LORA_SCAN_ON_START:
        return None
    try:
        return start_scan()
    except (Conflict, ApiError) as exc:
        logger.info("Start-up LoRA scan not queued: %s", exc.detail)
        return None


def ensure_schedule() -> None:
    """Create, update or (interval 0) delete the django-q2 schedule; safe to call often."""
    from django_q.models import Schedule

    minutes = settings.LORA_SCAN_INTERVAL_MINUTES
    if minutes <= 0:
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()
        return
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "loras_app.tasks.scheduled_scan",
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
        },
    )


# --- merging ------------------------------------------------------------------------------
@dataclass
class Incoming:
    """A LoRA as found now, ready to be written."""

    relative_path: str
    filename: str
    source: str
    fields: dict[str, Any]
    tags: list[tuple[str, int]]
    path: str = ""  # absolute, disk only


@dataclass
class Known:
    """What the catalog already has about a row (enough to decide what to do)."""

    id: int
    relative_path: str
    filename: str
    source: str
    size: int
    mtime: float
    sidecar_mtime: float
    preview: str
    missing: bool
    sha256: str
    edited: list[str]


class Merge:
    """One scan's merge of found files into the catalog."""

    def __init__(self, run: ScanRun, progress: Progress):
        self.run = run
        self.progress = progress
        self.errors: list[dict[str, str]] = []
        self.seen: set[int] = set()
        self.complete = True  # False when a source failed: do not mark anything missing
        self.known = [
            Known(*row)
            for row in Lora.objects.values_list(
                "id",
                "relative_path",
                "filename",
                "source",
                "size",
                "mtime",
                "sidecar_mtime",
                "preview",
                "missing",
                "sha256",
                "edited_fields",
            )
        ]
        self.by_path = {(k.source, k.relative_path): k for k in self.known}
        self.by_filename = {k.filename: k for k in self.known}
        self.taken_filenames: set[str] = set()
        self.revived: list[int] = []
        self.last_beat = time.monotonic()
        self.stored_metadata: dict[int, Any] | None = None

    def error(self, path: str, reason: str) -> None:
        self.run.error_count += 1
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append({"path": path, "reason": reason})

    def beat(self) -> None:
        if time.monotonic() - self.last_beat > HEARTBEAT_SECONDS:
            self.last_beat = time.monotonic()
            if not refresh_lock(self.run.pk):
                raise RuntimeError("lost the scan lock (expired); another scan may be running")

    # disk ---------------------------------------------------------------------------------
    def from_disk(self, root: Path) -> int:
        source = str(root)
        found: list[scanner.FoundFile] = []
        for item in scanner.walk(root):
            if isinstance(item, scanner.ScanIssue):
                self.error(item.path, item.reason)
            else:
                found.append(item)
        self.progress("scan", 0, len(found))
        current_paths = {f.relative_path for f in found}
        incoming: list[Incoming] = []
        for done, f in enumerate(found, 1):
            known = self.by_path.get((source, f.relative_path))
            if known and (known.size, known.mtime, known.sidecar_mtime, known.preview) == (
                f.size,
                f.mtime,
                f.sidecar_mtime,
                f.preview,
            ):
                self._keep(known)
            else:
                item = self._read(f, source)
                if item is not None:
                    incoming.append(item)
            if done % 200 == 0:
                self.progress("scan", done, len(found))
                self.beat()
        self.progress("scan", len(found), len(found))
        self._apply(incoming, lambda k: k.source == source and k.relative_path not in current_paths)
        return len(found)

    def _keep(self, known: Known) -> None:
        self.seen.add(known.id)
        self.taken_filenames.add(known.filename)
        self.run.unchanged += 1
        if known.missing:
            self.revived.append(known.id)

    def _read(self, f: scanner.FoundFile, source: str) -> Incoming | None:
        stem = PurePosixPath(f.relative_path).name.rsplit(".", 1)[0]
        metadata: dict[str, Any] = {}
        problems: list[str] = []
        if f.relative_path.lower().endswith(".safetensors"):
            try:
                metadata, problems = scanner.header_metadata(scanner.read_header(f.path))
            except scanner.HeaderError as exc:
                self.error(f.relative_path, str(exc))
                return None
        user, user_problems = scanner.read_user_metadata(f.path) if f.sidecar_mtime else ({}, [])
        described = scanner.describe(stem, metadata, user)
        for problem in problems + user_problems + described.problems:
            self.error(f.relative_path, problem)
        fields = _fields(described, metadata)
        fields.update(size=f.size, mtime=f.mtime, sidecar_mtime=f.sidecar_mtime, preview=f.preview)
        name = PurePosixPath(f.relative_path).name
        return Incoming(f.relative_path, name, source, fields, described.tags, path=f.path)

    # A1111 --------------------------------------------------------------------------------
    def from_a1111(self, backends: list[Backend]) -> int:
        if not backends:
            self.complete = False
            self.error("", "no enabled backend to list LoRAs from")
            return 0
        incoming: dict[str, Incoming] = {}
        for backend in backends:
            for item in self._list_backend(backend):
                incoming.setdefault(item.filename, item)
        fresh: list[Incoming] = []
        for item in incoming.values():
            known = self.by_path.get((item.source, item.relative_path)) or self.by_filename.get(
                item.filename
            )
            if (
                known
                and known.source == item.source
                and not known.missing
                and self._same_metadata(known, item)
            ):
                self._keep(known)
            else:
                fresh.append(item)
        listed = {(i.source, i.relative_path) for i in incoming.values()}
        urls = {b.url for b in backends}
        self._apply(fresh, lambda k: k.source in urls and (k.source, k.relative_path) not in listed)
        return len(incoming)

    def _list_backend(self, backend: Backend) -> list[Incoming]:
        client = client_for(backend)
        try:
            try:
                client.refresh_loras()
            except A1111Error as exc:  # listing what it already knows is still useful
                self.error(backend.url, f"refresh-loras failed: {exc.message}")
            listing = client.loras()
        except A1111Error as exc:
            self.complete = False
            self.error(backend.url, f"cannot list LoRAs: {exc.message}")
            return []
        finally:
            client.close()
        if not isinstance(listing, list):
            self.complete = False
            self.error(backend.url, "/sdapi/v1/loras did not answer a list")
            return []
        paths = [
            e["path"] for e in listing if isinstance(e, dict) and isinstance(e.get("path"), str)
        ]
        root = _common_dir(paths)
        items = []
        for entry in listing:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                self.error(backend.url, f"unexpected LoRA entry: {str(entry)[:200]}")
                continue
            filename = scanner.filename_from_a1111_path(entry["path"])
            metadata = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
            stem = str(entry.get("name") or filename.rsplit(".", 1)[0])
            described = scanner.describe(stem, metadata)
            for problem in described.problems:
                self.error(filename, problem)
            fields = _fields(described, metadata)
            if isinstance(entry.get("alias"), str) and entry["alias"]:
                fields["alias"] = entry["alias"][:255]
            rel = _relative(entry["path"], root)
            items.append(Incoming(rel, filename, backend.url, fields, described.tags))
        return items

    def _same_metadata(self, known: Known, item: Incoming) -> bool:
        if self.stored_metadata is None:  # one query for the whole listing, not one per row
            self.stored_metadata = dict(Lora.objects.values_list("id", "metadata"))
        return self.stored_metadata.get(known.id) == item.fields["metadata"]

    # writing ------------------------------------------------------------------------------
    def _apply(self, incoming: list[Incoming], vanished: Callable[[Known], bool]) -> None:
        """Write new and changed rows; match moved files; mark vanished ones missing."""
        gone = [k for k in self.known if k.id not in self.seen and vanished(k)]
        gone_ids = {k.id for k in gone}
        creates: list[tuple[Lora, Incoming]] = []
        updates: list[tuple[Known, Incoming]] = []
        for item in incoming:
            known = self.by_path.get((item.source, item.relative_path))
            if known is None or known.id in self.seen:
                known = self._moved(item, gone, gone_ids)
            if known is not None and known.id not in self.seen:
                self.seen.add(known.id)
                updates.append((known, item))
            else:
                creates.append((self._new_row(item), item))
        with transaction.atomic():
            self._create(creates)
            self._update(updates)
            self._mark_missing([k for k in gone if k.id not in self.seen])
        self.beat()

    def _moved(self, item: Incoming, gone: list[Known], gone_ids: set[int]) -> Known | None:
        """The row of a file that moved: same name in another folder (or now listed by
        another source), or a renamed file with the content of a vanished row."""
        known = self.by_filename.get(item.filename)
        if (
            known
            and known.id not in self.seen
            and (known.id in gone_ids or known.source != item.source)
        ):
            self.run.moved += known.relative_path != item.relative_path
            return known
        known = self._renamed(item, gone)
        self.run.moved += known is not None
        return known

    def _renamed(self, item: Incoming, gone: list[Known]) -> Known | None:
        """A renamed file: same size and content as a vanished row whose hash is known."""
        size = item.fields.get("size")
        options = [k for k in gone if k.sha256 and k.size == size and k.id not in self.seen]
        if not options or not item.path:
            return None
        try:
            sha256, _ = hashing.file_hashes(item.path)
        except OSError as exc:
            self.error(item.relative_path, f"cannot hash to match a renamed file: {exc}")
            return None
        return next((k for k in options if k.sha256 == sha256), None)

    def _new_row(self, item: Incoming) -> Lora:
        filename = item.filename
        for option in (item.relative_path, f"{item.source}/{item.relative_path}"):
            if not self._filename_taken(filename):
                break
            filename = option  # two folders (or sources) hold the same name: keep both
        self.taken_filenames.add(filename)
        now = timezone.now()
        lora = Lora(
            filename=filename[:255],
            relative_path=item.relative_path,
            source=item.source,
            first_seen=now,
            last_seen=now,
            **item.fields,
        )
        lora.prompt_name = lora.alias or lora.stem
        lora.search_text, lora.name_key = _index(lora, [t for t, _ in item.tags])
        return lora

    def _filename_taken(self, filename: str) -> bool:
        return filename in self.taken_filenames or filename in self.by_filename

    def _create(self, creates: list[tuple[Lora, Incoming]]) -> None:
        if not creates:
            return
        Lora.objects.bulk_create([lora for lora, _ in creates], batch_size=500)
        self.run.added += len(creates)
        self.seen.update(lora.pk for lora, _ in creates)
        self._write_tags([(lora.pk, item.tags) for lora, item in creates])

    def _update(self, updates: list[tuple[Known, Incoming]]) -> None:
        if not updates:
            return
        rows = Lora.objects.in_bulk([k.id for k, _ in updates])
        changed: list[Lora] = []
        retag: list[tuple[int, list[tuple[str, int]]]] = []
        now = timezone.now()
        for known, item in updates:
            lora = rows[known.id]
            content_changed = (lora.size, lora.mtime) != (
                item.fields.get("size"),
                item.fields.get("mtime"),
            )
            for name, value in item.fields.items():
                if name not in known.edited:
                    setattr(lora, name, value)
            if content_changed and item.path:
                lora.sha256 = ""  # the cached hash belonged to the old content
            if lora.filename != item.filename and not self._filename_taken(item.filename):
                lora.filename = item.filename[:255]  # renamed
            self.taken_filenames.add(lora.filename)
            lora.relative_path = item.relative_path
            lora.source, lora.missing, lora.last_seen = item.source, False, now
            if "tags" not in known.edited:
                retag.append((lora.pk, item.tags))
                tags = [t for t, _ in item.tags]
            else:
                tags = list(lora.tags.values_list("name", flat=True))
            lora.search_text, lora.name_key = _index(lora, tags)
            changed.append(lora)
        fields = [
            "filename",
            "relative_path",
            "source",
            "size",
            "mtime",
            "sidecar_mtime",
            "preview",
            "name",
            "alias",
            "base_model",
            "trigger_words",
            "description",
            "preferred_weight",
            "metadata",
            "short_hash",
            "sha256",
            "missing",
            "last_seen",
            "search_text",
            "name_key",
        ]
        Lora.objects.bulk_update(changed, fields, batch_size=500)
        self.run.updated += len(changed)
        self._write_tags(retag, replace=True)

    def _write_tags(
        self, items: list[tuple[int, list[tuple[str, int]]]], replace: bool = False
    ) -> None:
        if replace:
            ids = [pk for pk, _ in items]
            for start in range(0, len(ids), 500):
                LoraTag.objects.filter(lora_id__in=ids[start : start + 500]).delete()
        names = sorted({_tag_name(t) for _, tags in items for t, _ in tags})
        if not names:
            return
        Tag.objects.bulk_create([Tag(name=n) for n in names], batch_size=500, ignore_conflicts=True)
        tag_ids: dict[str, int] = {}
        for start in range(0, len(names), 500):
            tag_ids.update(
                Tag.objects.filter(name__in=names[start : start + 500]).values_list("name", "id")
            )
        links: dict[tuple[int, int], LoraTag] = {}
        for lora_id, tags in items:
            for tag, count in tags:
                key = (lora_id, tag_ids[_tag_name(tag)])
                if key not in links:
                    links[key] = LoraTag(lora_id=key[0], tag_id=key[1], frequency=max(0, count))
        LoraTag.objects.bulk_create(links.values(), batch_size=1000)

    def _mark_missing(self, gone: list[Known]) -> None:
        if not self.complete:
            return
        newly = [k.id for k in gone if not k.missing]
        for start in range(0, len(newly), 500):
            Lora.objects.filter(pk__in=newly[start : start + 500]).update(missing=True)
        self.run.missing = len(gone)

    def finish(self, prune: bool) -> None:
        """Bookkeeping after the merge: revived rows, last_seen, pruning, prompt names."""
        for start in range(0, len(self.revived), 500):
            Lora.objects.filter(pk__in=self.revived[start : start + 500]).update(missing=False)
        self.run.updated += len(self.revived)
        self.run.unchanged -= len(self.revived)
        _touch_seen(self.seen)
        if prune and self.complete:
            _, deleted = Lora.objects.filter(missing=True).delete()
            self.run.pruned = deleted.get(Lora._meta.label, 0)
        update_prompt_names()
        self.run.errors = self.errors

    def summary(self) -> str:
        return summary_line(self.run)


# last_seen is kept to this precision: a re-scan soon after another rewrites no rows (on
# PostgreSQL, re-stamping 10,000 rows is most of an unchanged re-scan's time).
LAST_SEEN_PRECISION = timedelta(minutes=10)


def _touch_seen(seen: set[int]) -> None:
    ids, now = sorted(seen), timezone.now()
    for start in range(0, len(ids), 900):
        Lora.objects.filter(
            pk__in=ids[start : start + 900], last_seen__lt=now - LAST_SEEN_PRECISION
        ).update(last_seen=now)


def _fields(described: scanner.Described, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": described.name,
        "alias": described.alias,
        "base_model": described.base_model,
        "trigger_words": described.trigger_words,
        "description": described.description,
        "preferred_weight": described.preferred_weight,
        "short_hash": described.short_hash,
        "metadata": metadata,
    }


def _tag_name(tag: str) -> str:
    return tag.strip().lower()[:200]


def _index(lora: Lora, tags: list[str]) -> tuple[str, str]:
    fields = search.index_fields(lora, [_tag_name(t) for t in tags])
    return fields["search_text"], fields["name_key"]


def _common_dir(paths: list[str]) -> str:
    dirs = [p.replace("\\", "/").rsplit("/", 1)[0] for p in paths]
    if not dirs:
        return ""
    try:
        return os.path.commonpath(dirs)
    except ValueError:
        return ""


def _relative(path: str, root: str) -> str:
    path = path.replace("\\", "/")
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path.rsplit("/", 1)[-1]


def update_prompt_names() -> int:
    """What A1111 resolves in ``<lora:NAME>``: the alias, unless two files claim it (or it
    is another file's stem, ``none``, or unusable in the tag syntax) — then the stem."""
    rows = list(
        Lora.objects.filter(missing=False).values_list("id", "filename", "alias", "prompt_name")
    )
    claims: dict[str, int] = {}
    for _, filename, alias, _ in rows:
        stem = PurePosixPath(filename).name.rsplit(".", 1)[0]
        claims[stem] = claims.get(stem, 0) + 1
        if alias and alias != stem:
            claims[alias] = claims.get(alias, 0) + 1
    changed = []
    for pk, filename, alias, current in rows:
        stem = PurePosixPath(filename).name.rsplit(".", 1)[0]
        usable = alias and claims.get(alias) == 1 and alias.lower() not in scanner.RESERVED_NAMES
        wanted = alias if usable and not any(c in alias for c in ":<>") else stem
        if wanted != current:
            changed.append(Lora(pk=pk, prompt_name=wanted))
    Lora.objects.bulk_update(changed, ["prompt_name"], batch_size=500)
    return len(changed)


# --- hashing ------------------------------------------------------------------------------
def pending_hashes():
    return (
        Lora.objects.filter(missing=False, sha256="")
        .exclude(source="")
        .exclude(source__startswith="http")
    )


def hash_pending(max_seconds: float | None = None, progress: Progress | None = None) -> int:
    """Hash catalog files that have no hash for their current (size, mtime)."""
    progress = progress or _no_progress
    started = time.monotonic()
    todo = list(
        pending_hashes().values_list("id", "source", "relative_path", "size", "mtime", "metadata")
    )
    done = 0
    for n, (pk, source, rel, size, mtime, metadata) in enumerate(todo, 1):
        path = os.path.join(source, rel)
        try:
            st = os.stat(path)
            if (st.st_size, st.st_mtime) != (size, mtime):
                continue  # changed since the scan: the next scan re-reads it
            sha256, a1111_hash = hashing.file_hashes(path)
        except OSError as exc:
            logger.warning("Cannot hash %s: %s", path, exc)
            continue
        Lora.objects.filter(pk=pk, size=size, mtime=mtime).update(
            sha256=sha256, short_hash=hashing.short_hash(metadata or {}, a1111_hash)
        )
        done += 1
        progress("hash", n, len(todo))
        if max_seconds and time.monotonic() - started > max_seconds:
            break
    return done


# --- editing ------------------------------------------------------------------------------
def set_enabled(lora_ids: list[int], enabled: bool) -> int:
    return Lora.objects.filter(pk__in=lora_ids).update(enabled=enabled)


def mark_edited(lora: Lora, fields: list[str]) -> None:
    """Remember hand edits so scans keep them, and refresh the search columns."""
    edited = sorted(set(lora.edited_fields) | {f for f in fields if f in EDITABLE})
    tags = list(lora.tags.values_list("name", flat=True))
    lora.edited_fields = edited
    lora.search_text, lora.name_key = _index(lora, tags)
    lora.save(update_fields=["edited_fields", "search_text", "name_key"])


def get_lora(filename: str) -> Lora:
    lora = Lora.objects.filter(filename=filename).prefetch_related("lora_tags__tag").first()
    if lora is None:
        hints = search.suggest(filename)
        hint = f" Did you mean: {', '.join(hints)}?" if hints else ""
        raise NotFound(
            f"No LoRA {filename!r} in the catalog.{hint}", code="lora_not_found", suggestions=hints
        )
    return lora


def get_scan(scan_id: int) -> ScanRun:
    run = ScanRun.objects.filter(pk=scan_id).first()
    if run is None:
        raise NotFound(f"No LoRA scan {scan_id}.", code="scan_not_found")
    return run


def preview_path(lora: Lora) -> Path | None:
    """The preview image on disk, if the row came from a folder and the file is inside it."""
    if not lora.preview or not lora.source or lora.source.startswith(("http://", "https://")):
        return None
    root = Path(lora.source).resolve()
    path = (root / lora.preview).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def find_loras(
    search_text: str = "",
    tag: str = "",
    base_model: str = "",
    enabled: str = "true",
    include_missing: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> tuple[int, list[Lora]]:
    """One page of the catalog: ranked matches for a search, else newest first."""
    filters = search.Filters(
        tag=tag,
        base_model=base_model,
        enabled={"true": True, "false": False}.get(enabled),
        include_missing=include_missing,
    )
    total, ids = search.search(search_text, filters, limit=limit, offset=offset)
    return total, search.page_rows(ids)
