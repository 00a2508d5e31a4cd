"""Catalog edits outside a scan: enabling and disabling LoRAs, hand edits (which later scans
keep), and the prompt names A1111 resolves (recomputed after every scan)."""

from __future__ import annotations

from pathlib import PurePosixPath

from loras_app.models import Lora, LoraTag, Tag, tag_name
from loras_app.scanner import RESERVED_NAMES
from loras_app.search import index_columns

# Fields a person may edit in the admin; a later scan leaves an edited one alone.
EDITABLE = ("name", "trigger_words", "description", "preferred_weight", "tags")


def set_enabled(lora_ids: list[int], enabled: bool) -> int:
    return Lora.objects.filter(pk__in=lora_ids).update(enabled=enabled)


def mark_edited(lora: Lora, fields: list[str]) -> None:
    """Remember hand edits so scans keep them, and refresh the search columns."""
    edited = sorted(set(lora.edited_fields) | {f for f in fields if f in EDITABLE})
    tags = list(lora.tags.values_list("name", flat=True))
    lora.edited_fields = edited
    lora.search_text, lora.name_key = index_columns(lora, tags)
    lora.save(update_fields=["edited_fields", "search_text", "name_key"])


def set_tags(lora: Lora, names: list[str]) -> None:
    """Give ``lora`` exactly these tags (a hand edit): kept tags keep their training
    frequency, new ones have none. Call :func:`mark_edited` with "tags" afterwards."""
    wanted = list(dict.fromkeys(t for t in (tag_name(n) for n in names) if t))
    LoraTag.objects.filter(lora=lora).exclude(tag__name__in=wanted).delete()
    have = set(LoraTag.objects.filter(lora=lora).values_list("tag__name", flat=True))
    for name in wanted:
        if name not in have:
            tag, _ = Tag.objects.get_or_create(name=name)
            LoraTag.objects.create(lora=lora, tag=tag, frequency=0)


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
        usable = alias and claims.get(alias) == 1 and alias.lower() not in RESERVED_NAMES
        wanted = alias if usable and not any(c in alias for c in ":<>") else stem
        if wanted != current:
            changed.append(Lora(pk=pk, prompt_name=wanted))
    Lora.objects.bulk_update(changed, ["prompt_name"], batch_size=500)
    return len(changed)
