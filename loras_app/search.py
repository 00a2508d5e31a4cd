"""Fuzzy, ranked LoRA search: a trigram prefilter in the database, a rapidfuzz rerank here.

A full rapidfuzz pass over 50k names costs ~70 ms; asking the database for a few hundred
rows that share trigrams with the query (SQLite FTS5 ``trigram``; PostgreSQL ``pg_trgm``)
and reranking only those keeps a keystroke under ~10 ms. Rows that merely start with the
query are always candidates too, so prefixes never depend on trigram luck.

Every row carries ``search_text`` = "<names>\\n<keywords>": its display name, alias and
file stem (also without a version suffix), tab-separated, then trigger words and tags,
all normalised (lower case, separators and camelCase split to single spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection, transaction
from rapidfuzz import fuzz, process

from loras_app.models import Lora, LoraCivitai, LoraTag, Tag, tag_name

CANDIDATES = 200
PG_CANDIDATES = 100  # the typo-tolerant PostgreSQL path returns them nearest first
PREFIX_CANDIDATES = 50
SHORT_QUERY = 7
ENOUGH = 20
MIN_FUZZY = 70.0
PG_MAX_SIMILARITY = 0.6  # pg_trgm word-similarity threshold bounds (see _pg_thresholds)
PG_MIN_SIMILARITY = 0.5
PG_SHORT_SIMILARITY = 0.35
PG_SHORT_QUERY = 9
PG_WIDEN_TYPED = 2  # rows found as typed, at most, for a short query to widen
AUTOCOMPLETE_LIMIT = 25
DISCORD_CHOICE_CHARS = 100

_EXTENSION = re.compile(r"\.(safetensors|ckpt|pt)$", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_VERSION = re.compile(r"(?:\s+(?:v|ver|version)?\s?\d+(?:\s\d+)*)+$")


# --- the index ------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """``"Character_Lora-v2.safetensors"`` -> ``"character lora v2"``."""
    text = _CAMEL.sub(" ", _EXTENSION.sub("", text))
    return _NON_WORD.sub(" ", text.lower()).strip()


def without_version(text: str) -> str:
    """``"character lora v2"`` -> ``"character lora"`` (normalised input)."""
    return _VERSION.sub("", text).strip()


def search_text(names: list[str], keywords: list[str]) -> str:
    """The denormalised text the database prefilter and the rerank both read."""
    forms: list[str] = []
    for name in names:
        norm = normalize(name)
        for form in (norm, without_version(norm)):
            if form and form not in forms:
                forms.append(form)
    words = [w for w in dict.fromkeys(normalize(k) for k in keywords) if w]
    return "\t".join(forms) + "\n" + "\t".join(words)


Terms = tuple[list[str], list[str]]  # (names, keywords) from outside the file: Civitai's


def index_fields(lora: Lora, tags: list[str], civitai: Terms | None = None) -> dict[str, str]:
    """``search_text`` and ``name_key`` for a row (call after any edit of what is searched).
    Civitai's model name and trained words (:func:`civitai_terms`) are searched too."""
    extra_names, extra_words = civitai if civitai is not None else civitai_terms(lora)
    text = search_text(
        [lora.name, lora.alias, lora.stem, *extra_names],
        list(lora.trigger_words) + tags + extra_words,
    )
    return {"search_text": text, "name_key": normalize(lora.name)[:255]}


def civitai_terms(lora: Lora) -> Terms:
    """What Civitai found for a saved row (read with ``select_related("civitai")`` to save
    the query); nothing for a new row or one Civitai does not know."""
    if lora.pk is None:
        return [], []
    try:
        found = lora.civitai
    except LoraCivitai.DoesNotExist:
        return [], []
    return _terms(found.status, found.model_name, found.trained_words)


def _terms(status: str, model_name: str, trained_words: list) -> Terms:
    if status != LoraCivitai.Status.FOUND:
        return [], []
    return ([model_name] if model_name else []), [str(w) for w in trained_words or []]


def index_columns(lora: Lora, tags: list[str]) -> tuple[str, str]:
    """(``search_text``, ``name_key``) for a row whose tags are given as found (not yet
    normalised to stored tag names)."""
    fields = index_fields(lora, [tag_name(t) for t in tags])
    return fields["search_text"], fields["name_key"]


def reindex(lora_ids: list[int] | None = None) -> int:
    """Recompute the search columns (after tag edits, or for rows written elsewhere)."""
    rows = Lora.objects.all() if lora_ids is None else Lora.objects.filter(pk__in=lora_ids)
    tags: dict[int, list[str]] = {}
    for lora_id, name in LoraTag.objects.filter(lora__in=rows).values_list("lora_id", "tag__name"):
        tags.setdefault(lora_id, []).append(name)
    civitai = {
        lora_id: _terms(status, model_name, words)
        for lora_id, status, model_name, words in LoraCivitai.objects.filter(
            lora__in=rows
        ).values_list("lora_id", "status", "model_name", "trained_words")
    }
    changed = []
    for lora in rows.only(
        "id", "filename", "name", "alias", "trigger_words", "search_text", "name_key"
    ):
        fields = index_fields(lora, tags.get(lora.pk, []), civitai.get(lora.pk, ([], [])))
        if fields["search_text"] != lora.search_text or fields["name_key"] != lora.name_key:
            lora.search_text, lora.name_key = fields["search_text"], fields["name_key"]
            changed.append(lora)
    Lora.objects.bulk_update(changed, ["search_text", "name_key"], batch_size=500)
    return len(changed)


# --- querying -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    tag: str = ""
    base_model: str = ""
    enabled: bool | None = True  # None: both
    include_missing: bool = False


def search(
    query: str, filters: Filters = Filters(), limit: int = 20, offset: int = 0
) -> tuple[int, list[int]]:
    """(total matches, ids of the requested page), best first; empty query: newest first."""
    q = normalize(query)
    if not q:
        rows = _filtered(filters).order_by("-first_seen", "-id")
        return rows.count(), list(rows.values_list("id", flat=True)[offset : offset + limit])
    ranked = rank(q, candidates(q, filters))
    return len(ranked), ranked[offset : offset + limit]


def autocomplete(query: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[dict[str, str]]:
    """At most 25 ``{name, value}`` choices (Discord's limit and lengths)."""
    limit = max(1, min(limit, AUTOCOMPLETE_LIMIT))
    _, ids = search(query, limit=limit)
    rows = {
        pk: (name, filename)
        for pk, name, filename in Lora.objects.filter(pk__in=ids).values_list(
            "id", "name", "filename"
        )
    }
    return [{"name": _choice_label(*rows[i]), "value": rows[i][1]} for i in ids if i in rows]


def suggest(query: str, limit: int = 5) -> list[str]:
    """The closest filenames to ``query``, for "did you mean" in a 404."""
    _, ids = search(query, limit=limit)
    filenames = dict(Lora.objects.filter(pk__in=ids).values_list("id", "filename"))
    return [filenames[i] for i in ids]


def _choice_label(name: str, filename: str) -> str:
    label = name if normalize(name) == normalize(filename) else f"{name} ({filename})"
    return label if len(label) <= DISCORD_CHOICE_CHARS else label[: DISCORD_CHOICE_CHARS - 1] + "…"


def _filtered(filters: Filters):
    rows = Lora.objects.all()
    if not filters.include_missing:
        rows = rows.filter(missing=False)
    if filters.enabled is not None:
        rows = rows.filter(enabled=filters.enabled)
    if filters.base_model:
        rows = rows.filter(base_model__iexact=filters.base_model)
    if filters.tag:
        rows = rows.filter(
            pk__in=LoraTag.objects.filter(tag__name=filters.tag.strip().lower()).values("lora_id")
        )
    return rows


def candidates(q: str, filters: Filters = Filters()) -> list[tuple[int, str]]:
    """(id, search_text) of rows worth reranking: trigram neighbours plus name prefixes."""
    rows = _filtered(filters)
    if connection.vendor == "postgresql":
        prefix = rows.filter(name_key__startswith=q)
    else:  # SQLite's LIKE cannot use the index; a range on the binary-collated column can
        prefix = rows.filter(name_key__gte=q, name_key__lt=q + "\x7f")
    found = dict(prefix.values_list("id", "search_text")[:PREFIX_CANDIDATES])
    if len(q) >= 3 and connection.vendor in ("sqlite", "postgresql"):
        found.update(_trigram_candidates(q, filters))
    return list(found.items())


def _trigram_candidates(q: str, filters: Filters) -> list[tuple[int, str]]:
    where, params = _where(filters)
    table = Lora._meta.db_table
    if connection.vendor == "postgresql":
        return _pg_candidates(q, table, where, params)
    sql = (
        f"SELECT l.id, l.search_text FROM {table}_fts f JOIN {table} l ON l.id = f.rowid "
        f"WHERE {table}_fts MATCH %s AND {where} ORDER BY f.rank LIMIT %s"
    )
    with connection.cursor() as cursor:
        # The query as typed is a selective substring; when it alone finds enough rows the
        # broader typo-tolerant OR (which scores many more rows) is not needed.
        cursor.execute(sql, [_phrase(q), *params, CANDIDATES])
        rows = cursor.fetchall()
        if len(rows) >= ENOUGH:
            return rows
        match = " OR ".join(_phrase(f) for f in _fragments(q))
        cursor.execute(sql, [match, *params, CANDIDATES])
        return rows + cursor.fetchall()


def _pg_candidates(q: str, table: str, where: str, params: list) -> list[tuple[int, str]]:
    """The query as typed (a substring), then, when that finds too few, its typo-tolerant
    neighbours: both served by the GIN ``gin_trgm_ops`` index.

    ``<%`` (word similarity over ``pg_trgm.word_similarity_threshold``) lets the index drop
    rows sharing too few trigrams, so only the few hundred real neighbours are read and
    ordered; a nearest-first ``ORDER BY <<->`` walk of a GiST index instead visited most of
    the index on every query (~25 ms at 100k rows).
    """
    select = f"SELECT l.id, l.search_text FROM {table} l WHERE {where} AND "
    with connection.cursor() as cursor:
        cursor.execute(
            select + "l.search_text LIKE %s LIMIT %s", [*params, f"%{_like(q)}%", CANDIDATES]
        )
        rows = cursor.fetchall()
        if len(rows) >= ENOUGH:
            return rows
        typed = len(rows)
        with transaction.atomic():  # the thresholds are set for this transaction only
            for threshold in _pg_thresholds(q, typed):
                cursor.execute(
                    "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
                    [str(threshold)],
                )
                cursor.execute(
                    select + "%s <%% l.search_text ORDER BY %s <<-> l.search_text LIMIT %s",
                    [*params, q, q, PG_CANDIDATES],
                )
                rows += cursor.fetchall()
                if len(rows) >= ENOUGH:
                    break
        return rows


def _pg_thresholds(q: str, typed: int = 0) -> list[float]:
    """Word-similarity thresholds to try in turn while too few rows are found.

    pg_trgm scores the query's trigrams found in the best extent of the row over the query's
    trigrams plus the extent's others; one edit inside a word of n letters loses up to 3
    and adds up to 3, (n - 2) / (n + 4). That, kept within 0.5..0.6, reads few rows; a
    short query (where one edit weighs more: "chapter" is 0.38 from "character") then
    widens to PG_SHORT_SIMILARITY, affordable because it only runs when few rows matched
    and the query as typed was (nearly) nowhere: a keystroke prefix is found as typed.
    """
    n = len(q)
    first = round(max(PG_MIN_SIMILARITY, min(PG_MAX_SIMILARITY, (n - 2) / (n + 4))), 2)
    widen = n <= PG_SHORT_QUERY and typed <= PG_WIDEN_TYPED
    return [first, PG_SHORT_SIMILARITY] if widen else [first]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _where(filters: Filters) -> tuple[str, list]:
    """The filters as SQL on alias ``l`` (inline: an ``IN (subquery)`` costs ~40 ms here)."""
    clauses, params = ["1 = 1"], []
    if not filters.include_missing:
        clauses.append("l.missing = %s")
        params.append(False)
    if filters.enabled is not None:
        clauses.append("l.enabled = %s")
        params.append(filters.enabled)
    if filters.base_model:
        clauses.append("LOWER(l.base_model) = LOWER(%s)")
        params.append(filters.base_model)
    if filters.tag:
        link, tag = LoraTag._meta.db_table, Tag._meta.db_table
        clauses.append(
            f"EXISTS (SELECT 1 FROM {link} lt JOIN {tag} t ON t.id = lt.tag_id "
            "WHERE lt.lora_id = l.id AND t.name = %s)"
        )
        params.append(filters.tag.strip().lower())
    return " AND ".join(clauses), params


def _fragments(q: str) -> list[str]:
    """FTS5 phrases (substring matches on a trigram index) that survive typos.

    One edit leaves one half of the query intact, two edits one third (pigeonhole), so
    matching any half or third finds the LoRA without an OR over every trigram, which
    makes SQLite score half the catalog. Words of 4+ letters cover a changed word order;
    a short query also ORs its few trigrams so a typo in it still finds neighbours.
    """
    parts = [q]
    for pieces in (2, 3):
        size = len(q) // pieces
        if size >= 4:
            parts += [
                q[i * size : (i + 1) * size if i < pieces - 1 else len(q)] for i in range(pieces)
            ]
    parts += [w for w in q.split() if len(w) >= 4]
    if len(q) <= SHORT_QUERY:
        parts += [q[i : i + 3] for i in range(len(q) - 2)]
    return [p for p in dict.fromkeys(p.strip() for p in parts) if len(p) >= 3]


# --- ranking ------------------------------------------------------------------------------
def rank(q: str, rows: list[tuple[int, str]]) -> list[int]:
    """Ids of matching rows, best first: exact, prefix, all words, substring, then fuzzy."""
    if not rows:
        return []
    q_words = q.split()
    parsed = [(pk, *_split(text)) for pk, text in rows]
    vocabulary = sorted({w for _, names, keys in parsed for n in names + keys for w in n.split()})
    word_scores = [_word_scores(qw, vocabulary) for qw in q_words]
    scored = []
    for pk, names, keys in parsed:
        score = _score(q, q_words, names, keys, word_scores)
        if score is not None:
            scored.append((-score, len(names[0]) if names else 0, -pk))
    scored.sort()
    return [-key[2] for key in scored]


def _split(text: str) -> tuple[list[str], list[str]]:
    names, _, keys = text.partition("\n")
    return [n for n in names.split("\t") if n], [k for k in keys.split("\t") if k]


def _word_scores(q_word: str, vocabulary: list[str]) -> dict[str, float]:
    """How well one typed word matches each candidate word, prefix-typos included."""
    whole = process.cdist([q_word], vocabulary, scorer=fuzz.ratio)[0]
    heads = process.cdist([q_word], [w[: len(q_word) + 1] for w in vocabulary], scorer=fuzz.ratio)[
        0
    ]
    scores = {}
    for word, a, b in zip(vocabulary, whole, heads, strict=True):
        scores[word] = 100.0 if word.startswith(q_word) else max(float(a), float(b) * 0.95)
    return scores


def _score(
    q: str, q_words: list[str], names: list[str], keys: list[str], word_scores
) -> float | None:
    """Tiers, best first: exact name 1000, name prefix 900+, every word a prefix of a name
    word 800, substring 700+, exact keyword 650; else fuzzy 0–100 (keywords at 90%)."""
    best = 0.0
    for name in names:
        if name == q:
            return 1000.0
        if name.startswith(q):
            best = max(best, 900 + 50 * len(q) / len(name))
        elif q in name:
            best = max(best, 700 + 50 * len(q) / len(name))
    if best >= 900:
        return best
    name_words = {w for n in names for w in n.split()}
    if name_words and all(any(w.startswith(qw) for w in name_words) for qw in q_words):
        return 800.0
    if best:
        return best
    if q in keys:
        return 650.0
    fuzzy_names = _fuzzy(q, names, name_words, word_scores)
    key_words = {w for k in keys for w in k.split()}
    fuzzy_keys = _fuzzy(q, keys, key_words, word_scores) * 0.9
    best = max(fuzzy_names, fuzzy_keys)
    return best if best >= MIN_FUZZY else None


def _fuzzy(q: str, texts: list[str], words: set[str], word_scores: list[dict[str, float]]) -> float:
    """The better of: typed words matched to the row's words (order-free), or the whole."""
    if not texts:
        return 0.0
    by_words = sum(max(map(scores.__getitem__, words)) for scores in word_scores) / len(word_scores)
    return max(by_words, max(fuzz.ratio(q, t) for t in texts))


def page_rows(ids: list[int]) -> list[Lora]:
    """The Lora rows for ``ids``, in that order, tags prefetched."""
    rows = {r.pk: r for r in Lora.objects.filter(pk__in=ids).prefetch_related("lora_tags__tag")}
    return [rows[i] for i in ids if i in rows]
