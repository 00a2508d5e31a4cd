"""One scan's merge of what a source found into the catalog: new rows, changed rows, moved
and renamed files, vanished ones marked missing, tags, prompt names. No HTTP here: a folder
arrives walked and a backend's LoRAs arrive listed (see ``sources``); the only reads are
the headers of files that changed and, to recognise a renamed file, its hash."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from loras_app import hashing
from loras_app.edits import update_prompt_names
from loras_app.models import Lora, LoraTag, ScanRun, Tag, tag_name
from loras_app.scan.items import BackendListing, FolderListing, Incoming, read_file
from loras_app.scan.lock import refresh_lock
from loras_app.search import index_columns

MAX_RECORDED_ERRORS = 500
HEARTBEAT_SECONDS = 5.0
# last_seen is kept to this precision: a re-scan soon after another rewrites no rows (on
# PostgreSQL, re-stamping 10,000 rows is most of an unchanged re-scan's time).
LAST_SEEN_PRECISION = timedelta(minutes=10)
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    return None


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
    def from_disk(self, listing: FolderListing) -> int:
        source = listing.root
        for issue in listing.issues:
            self.error(issue.path, issue.reason)
        found = listing.found
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
                item, issues = read_file(f, source)
                for issue in issues:
                    self.error(issue.path, issue.reason)
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

    # A1111 --------------------------------------------------------------------------------
    def from_a1111(self, listing: BackendListing) -> int:
        for issue in listing.issues:
            self.error(issue.path, issue.reason)
        if not listing.complete:
            self.complete = False
        if not listing.urls:
            return 0
        incoming: dict[str, Incoming] = {}
        for item in listing.items:  # the first backend to list a file name wins
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
        urls = listing.urls
        self._apply(fresh, lambda k: k.source in urls and (k.source, k.relative_path) not in listed)
        return len(incoming)

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
        lora.search_text, lora.name_key = index_columns(lora, [t for t, _ in item.tags])
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
        # Civitai's terms are searched too: read them with the rows, not one query each.
        rows = Lora.objects.select_related("civitai").in_bulk([k.id for k, _ in updates])
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
            lora.search_text, lora.name_key = index_columns(lora, tags)
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
        names = sorted({tag_name(t) for _, tags in items for t, _ in tags})
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
                key = (lora_id, tag_ids[tag_name(tag)])
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


def _touch_seen(seen: set[int]) -> None:
    ids, now = sorted(seen), timezone.now()
    for start in range(0, len(ids), 900):
        Lora.objects.filter(
            pk__in=ids[start : start + 900], last_seen__lt=now - LAST_SEEN_PRECISION
        ).update(last_seen=now)
