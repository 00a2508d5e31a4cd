"""Civitai enrichment (opt-in, ``CIVITAI_ENRICH``): what Civitai knows about a LoRA, looked up
by the file's sha256 with ``GET {CIVITAI_BASE_URL}/api/v1/model-versions/by-hash/{sha256}``.

Only the hash leaves the hub (plus ``CIVITAI_API_KEY`` as a Bearer token when set). The answer
is stored in :class:`LoraCivitai`, apart from the file's and the admin's values, which it never
replaces; its model name and trained words join the LoRA's search columns.

Runs as housekeeping, never inside a scan: queued after hashing, and retried by a schedule.
A found LoRA is not asked again (unless refreshed, or its file changed); one Civitai does not
know (404) is asked again after 1, 2, 4 … 30 days, a failed lookup after 5 min … 12 h. At most
``CIVITAI_RATE_PER_SECOND`` requests a second; a 429 pauses every lookup for its Retry-After
(a short one is waited out); a few failures in a row (offline) end the run.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from core.schedules import housekeeping_schedule
from loras_app.models import Lora, LoraCivitai
from loras_app.search import reindex

logger = logging.getLogger(__name__)

Status = LoraCivitai.Status
SCHEDULE_NAME = "Civitai enrichment"
PAUSE_KEY = "loras:civitai:paused-until"
NOT_FOUND_RETRY, NOT_FOUND_MAX = timedelta(days=1), timedelta(days=30)
FAILED_RETRY, FAILED_MAX = timedelta(minutes=5), timedelta(hours=12)
DEFAULT_RETRY_AFTER = 60.0  # a 429 without a usable Retry-After
MAX_WAIT_SECONDS = 10.0  # a Retry-After this short is waited out inside the task
MAX_FAILURES_IN_A_ROW = 3  # then Civitai (or the network) is down: stop, the schedule retries
THUMBNAIL_PIXELS = 256
MAX_IMAGE_BYTES = 10 * 1024 * 1024
NSFW_LEVEL_R = 4  # Civitai's nsfwLevel flags: 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX
MAX_TRAINED_WORDS = 50
USER_AGENT = "a1111hub (LoRA catalog; by-hash lookup)"


# --- talking to Civitai ------------------------------------------------------------------
class Throttle:
    """At most ``rate`` requests a second from this process (housekeeping has one worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, rate: float) -> None:
        if rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + 1.0 / rate
        if delay > 0:
            time.sleep(delay)


throttle = Throttle()


@dataclass
class Answer:
    status: str
    data: dict | None = None
    error: str = ""
    retry_after: float | None = None  # set on a 429


def lookup(http: requests.Session, sha256: str) -> Answer:
    """One by-hash request; never raises."""
    url = f"{settings.CIVITAI_BASE_URL}/api/v1/model-versions/by-hash/{sha256}"
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if settings.CIVITAI_API_KEY:
        headers["Authorization"] = f"Bearer {settings.CIVITAI_API_KEY}"
    throttle.wait(settings.CIVITAI_RATE_PER_SECOND)
    try:
        response = http.get(url, headers=headers, timeout=settings.CIVITAI_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return Answer(Status.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:500])
    if response.status_code == 404:
        return Answer(Status.NOT_FOUND)
    if response.status_code == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return Answer(Status.FAILED, error="429 Too Many Requests", retry_after=wait)
    if response.status_code != 200:
        return Answer(
            Status.FAILED, error=f"HTTP {response.status_code}: {response.text[:200]}".strip()
        )
    try:
        data = response.json()
    except ValueError:
        return Answer(Status.FAILED, error="Civitai answered something that is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return Answer(Status.FAILED, error="Civitai's answer has no model version id")
    return Answer(Status.FOUND, data=data)


def retry_after_seconds(value: str | None) -> float:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def image_is_nsfw(image: dict) -> bool:
    """Newer answers carry ``nsfwLevel`` (flags), older ones ``nsfw`` (bool or a level name)."""
    level = image.get("nsfwLevel")
    if isinstance(level, int):
        return level >= NSFW_LEVEL_R
    flag = image.get("nsfw")
    if isinstance(flag, str):
        return flag not in ("", "None")
    return bool(flag)


def parse(data: dict) -> dict:
    """The fields kept from a by-hash answer (a model version with its model's summary)."""
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    images = [
        i
        for i in data.get("images") or []
        if isinstance(i, dict)
        and isinstance(i.get("url"), str)
        and i["url"].startswith(("http://", "https://"))
        and i.get("type", "image") == "image"
    ]
    preview = next((i for i in images if not image_is_nsfw(i)), images[0] if images else None)
    words = [w.strip() for w in data.get("trainedWords") or [] if isinstance(w, str)]
    level = data.get("nsfwLevel")
    model_id = data.get("modelId")
    return {
        "version_id": data["id"],
        "model_id": model_id if isinstance(model_id, int) else None,
        "model_name": str(model.get("name") or "")[:255],
        "version_name": str(data.get("name") or "")[:255],
        "model_type": str(model.get("type") or "")[:32],
        "base_model": str(data.get("baseModel") or "")[:64],
        "trained_words": [w for w in dict.fromkeys(words) if w][:MAX_TRAINED_WORDS],
        "nsfw": bool(model.get("nsfw")) or (isinstance(level, int) and level >= NSFW_LEVEL_R),
        "preview_url": preview["url"][:1024] if preview else "",
    }


def download_thumbnail(http: requests.Session, url: str, name: str) -> str:
    """Fetch the preview image, shrink it, keep it in the media storage; its storage name."""
    from PIL import Image

    with http.get(
        url,
        headers={"User-Agent": USER_AGENT},
        timeout=settings.CIVITAI_TIMEOUT_SECONDS,
        stream=True,
    ) as response:
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > MAX_IMAGE_BYTES:
                raise ValueError("preview image larger than 10 MiB")
    with Image.open(io.BytesIO(bytes(body))) as image:
        image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(out.getvalue()))


# --- the catalog's side ------------------------------------------------------------------
def due(refresh: bool = False, lora_ids: list[int] | None = None) -> QuerySet[Lora]:
    """Hashed, present LoRAs to look up: never asked, their file changed since, or a miss
    whose retry time has come (with ``refresh``: every one, found ones too)."""
    rows = Lora.objects.filter(missing=False).exclude(sha256="")
    if lora_ids is not None:
        rows = rows.filter(pk__in=lora_ids)
    if refresh:
        return rows
    return rows.filter(
        Q(civitai__isnull=True)
        | ~Q(civitai__sha256=F("sha256"))
        | Q(
            civitai__status__in=[Status.NOT_FOUND, Status.FAILED],
            civitai__next_try_at__lte=timezone.now(),
        )
    )


@dataclass
class Summary:
    found: int = 0
    not_found: int = 0
    failed: int = 0
    left: int = 0  # due but not asked in this run (paused, offline, or --limit)
    paused_until: float | None = None
    offline: bool = False  # stopped after failures in a row; the schedule retries
    disabled: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.disabled:
            return "Civitai enrichment is off (CIVITAI_ENRICH)."
        line = f"found {self.found}, not found {self.not_found}, failed {self.failed}"
        if self.paused_until:
            wait = max(0, round(self.paused_until - time.time()))
            line += f"; Civitai asked us to wait {wait} s"
        if self.offline:
            line += "; Civitai is unreachable or failing, stopped"
        if self.left:
            line += f"; {self.left} left for later"
        return line


def paused_until() -> float | None:
    until = cache.get(PAUSE_KEY)
    return until if until and until > time.time() else None


def _pause(seconds: float) -> float:
    until = time.time() + seconds
    cache.set(PAUSE_KEY, until, timeout=int(seconds) + 1)
    return until


def enrich(
    refresh: bool = False, limit: int | None = None, lora_ids: list[int] | None = None
) -> Summary:
    """Look up the LoRAs that are due; store each answer as it comes."""
    summary = Summary()
    if not settings.CIVITAI_ENRICH:
        summary.disabled = True
        return summary
    todo = list(due(refresh, lora_ids).order_by("id").values_list("id", "sha256"))
    if limit is not None:
        summary.left, todo = max(0, len(todo) - limit), todo[:limit]
    summary.paused_until = paused_until()
    if summary.paused_until:
        summary.left += len(todo)
        return summary
    failures_in_a_row = 0
    changed: list[int] = []
    with requests.Session() as http:
        for n, (pk, sha256) in enumerate(todo):
            answer = lookup(http, sha256)
            if answer.retry_after is not None and answer.retry_after <= MAX_WAIT_SECONDS:
                time.sleep(answer.retry_after)
                answer = lookup(http, sha256)
            if store(http, pk, sha256, answer):
                changed.append(pk)
            setattr(summary, answer.status, getattr(summary, answer.status) + 1)
            if answer.error:
                summary.errors.append(f"{sha256[:12]}: {answer.error}")
            if answer.retry_after is not None:
                summary.paused_until = _pause(answer.retry_after)
                summary.left += len(todo) - n - 1
                break
            failures_in_a_row = failures_in_a_row + 1 if answer.status == Status.FAILED else 0
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                summary.left += len(todo) - n - 1
                summary.offline = True
                break
    if changed:
        reindex(changed)
    if summary.errors:
        logger.warning("Civitai enrichment: %s (%s)", summary.message, summary.errors[0])
    return summary


def _backoff(first: timedelta, attempts: int, cap: timedelta) -> timedelta:
    return min(cap, first * 2 ** max(0, attempts - 1))


def store(http: requests.Session, lora_id: int, sha256: str, answer: Answer) -> bool:
    """Keep one answer; True when what search reads (a found row's names and words) changed."""
    now = timezone.now()
    row = LoraCivitai.objects.filter(lora_id=lora_id).first() or LoraCivitai(lora_id=lora_id)
    was_found = row.found and row.sha256 == sha256
    before = (row.status, row.model_name, list(row.trained_words))
    if answer.status == Status.FAILED:
        row.last_error = answer.error
        if not was_found:  # a failed refresh keeps what Civitai said before
            row.sha256, row.status = sha256, Status.FAILED
            row.attempts += 1
            wait = _backoff(FAILED_RETRY, row.attempts, FAILED_MAX)
            if answer.retry_after is not None:
                wait = max(wait, timedelta(seconds=answer.retry_after))
            row.next_try_at = now + wait
        row.save()
        return False
    old_thumbnail = row.thumbnail
    row.sha256, row.status, row.fetched_at, row.last_error = sha256, answer.status, now, ""
    if answer.status == Status.NOT_FOUND:
        for name in ("model_name", "version_name", "model_type", "base_model", "preview_url"):
            setattr(row, name, "")
        row.model_id = row.version_id = None
        row.trained_words, row.nsfw, row.thumbnail = [], False, ""
        row.attempts += 1
        row.next_try_at = now + _backoff(NOT_FOUND_RETRY, row.attempts, NOT_FOUND_MAX)
    else:
        previous_preview = row.preview_url
        for name, value in parse(answer.data).items():
            setattr(row, name, value)
        row.attempts, row.next_try_at = 0, None
        if row.preview_url and (row.preview_url != previous_preview or not row.thumbnail):
            row.thumbnail = ""
            try:
                name = f"loras/civitai/{lora_id}-{row.version_id}.jpg"  # one per row
                row.thumbnail = download_thumbnail(http, row.preview_url, name)
            except Exception as exc:  # a thumbnail is a nicety: the lookup still counts
                row.last_error = f"thumbnail: {exc.__class__.__name__}: {exc}"[:500]
        elif not row.preview_url:
            row.thumbnail = ""
    if old_thumbnail and old_thumbnail != row.thumbnail:
        default_storage.delete(old_thumbnail)
    row.save()
    return before != (row.status, row.model_name, list(row.trained_words))


# --- queueing and the schedule -----------------------------------------------------------
def queue_enrichment(lora_ids: list[int] | None = None, refresh: bool = False) -> bool:
    """Queue a run on the housekeeping queue (after the current transaction) when enrichment
    is on and something is due; never waits for it."""
    if not settings.CIVITAI_ENRICH or not due(refresh, lora_ids).exists():
        return False
    transaction.on_commit(
        lambda: async_task(
            "loras_app.tasks.enrich_loras",
            lora_ids=lora_ids,
            refresh=refresh,
            task_name=f"civitai-enrich-{time.time_ns()}",
            cluster=settings.HUB_HOUSEKEEPING_QUEUE,
        )
    )
    return True


def ensure_schedule() -> None:
    """The retry schedule exists exactly while enrichment is on (safe to call often)."""
    minutes = settings.CIVITAI_RETRY_INTERVAL_MINUTES if settings.CIVITAI_ENRICH else None
    housekeeping_schedule(SCHEDULE_NAME, "loras_app.tasks.enrich_loras", minutes)
