"""Jobs: turning a validated request into a queued job, its queue position, cancel."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backends.health import probe_all
from backends.registry import interrupt
from core.errors import ApiError, Conflict, TooManyRequests
from core.schedules import housekeeping_schedule
from generation_app import dispatcher, events, scheduler
from generation_app.context import GenerationContext
from generation_app.models import BackendLease, Job, JobGroup
from generation_app.payloads import BuildInputs, LoraRef, build_payload, prompt_lora_names
from generation_app.retention import ensure_prune_schedule
from genparams.params import output_pixels
from loras_app.rules import unusable_reason
from loras_app.search import suggest
from loras_app.selectors import catalog_is_empty, loras_by_name
from presets_app.services import record_preset_use
from sessions_app.custom_settings import custom_settings_to_params

logger = logging.getLogger(__name__)


@dataclass
class JobRequest:
    """A generation request after validation, ready to become a job."""

    kind: str
    user_id: str
    params: dict[str, Any]  # validated generation parameters and kind-specific A1111 fields
    received: dict[str, Any]  # the request as received, images elided, for the record
    context: GenerationContext
    preset_id: int | None = None
    idempotency_key: str | None = None
    priority: int = 0  # the API key's
    fingerprint: str = ""  # sha256 of the body as received (Idempotency-Key replays)
    scripts: dict[str, Any] = field(default_factory=dict)  # alwayson_scripts to add
    warnings: list[str] = field(default_factory=list)
    webhook_url: str = ""  # where the job's events are POSTed (generation_app.webhooks)
    api_key_id: int | None = None  # the key that sent it: its secret signs the webhooks
    base_url: str = ""  # the hub as the client saw it, for absolute links in events


# --- the pieces a payload is merged from -----------------------------------------------
def _catalog_loras(filenames: set[str], prompt_names: set[str]) -> dict[str, LoraRef]:
    return {
        row.filename: LoraRef(row.filename, row.prompt_name, row.enabled, row.missing)
        for row in loras_by_name(filenames, prompt_names)
    }


def _refuse_unknown_loras(requested: dict[str, float], prompt: str, catalog: dict[str, LoraRef]):
    """A1111 ignores a LoRA it does not know; the hub says so before queueing instead."""
    unknown = [f for f in requested if f not in catalog]
    not_known = unusable_reason(known=False)
    if unknown:
        raise ApiError(
            f"LoRA(s) {', '.join(unknown)} {not_known}. Use a filename from GET /loras.",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in unknown},
        )
    known_names = {ref.prompt_name for ref in catalog.values()}
    in_prompt = prompt_lora_names(prompt) - known_names
    if in_prompt and not catalog_is_empty():
        raise ApiError(
            f"The prompt names LoRA(s) {', '.join(sorted(in_prompt))}, which {not_known}: "
            "A1111 would silently ignore them. Check the names with GET /loras (or POST "
            "/loras/scan if they are new).",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in sorted(in_prompt)},
        )


@dataclass
class PreparedPayload:
    payload: dict[str, Any]
    warnings: list[str]
    loras: dict[str, float]  # the LoRAs asked for, by the name written in the tag
    total_steps: int


def prepare_payload(job_request: JobRequest, task_id: str) -> PreparedPayload:
    context = job_request.context
    preset = context.preset
    preset_params = dict(preset.params) if preset else {}
    preset_loras = dict(preset.loras) if preset else {}
    params = job_request.params
    requested_loras = dict(params.get("loras") or {})
    prompt = params.get("prompt") or preset_params.get("prompt") or ""
    session_loras = context.session["active_loras"]
    filenames = set(session_loras) | set(preset_loras) | set(requested_loras)
    catalog_loras = _catalog_loras(filenames, prompt_lora_names(prompt))
    _refuse_unknown_loras(requested_loras, prompt, catalog_loras)

    built = build_payload(
        BuildInputs(
            kind=job_request.kind,
            request=params,
            defaults=settings.HUB_GENERATION_DEFAULTS,
            custom_settings=custom_settings_to_params(context.session["custom_settings"]),
            preset_params=preset_params,
            session_loras=session_loras,
            preset_loras=preset_loras,
            catalog_loras=catalog_loras,
            checkpoint_titles=context.checkpoint_titles,
            task_id=task_id,
        )
    )
    images = int(built.payload.get("batch_size") or 1) * int(built.payload.get("n_iter") or 1)
    if images > settings.HUB_MAX_IMAGES:
        raise ApiError(
            f"With your saved settings and preset this request makes {images} images; at most "
            f"{settings.HUB_MAX_IMAGES} per request. Lower batch_size or batch_count.",
            code="too_many_images",
        )
    made = output_pixels({**built.payload, "batch_count": built.payload.get("n_iter")})
    if made > settings.HUB_MAX_OUTPUT_PIXELS:
        raise ApiError(
            f"With your saved settings and preset this request makes {made:,} pixels; at "
            f"most {settings.HUB_MAX_OUTPUT_PIXELS:,}. Lower the size, hr_scale or images.",
            code="too_many_pixels",
        )
    if job_request.scripts:
        built.payload["alwayson_scripts"] = {
            **(built.payload.get("alwayson_scripts") or {}),
            **job_request.scripts,
        }
    return PreparedPayload(
        built.payload, job_request.warnings + built.warnings, built.loras, built.total_steps
    )


def needed_capabilities(payload: dict[str, Any]) -> list[str]:
    """Extensions a job needs whatever its kind (the kind's own need is REQUIRED_CAPABILITY)."""
    scripts = payload.get("alwayson_scripts") or {}
    return ["adetailer"] if "ADetailer" in scripts else []


# --- creating, finding, cancelling ------------------------------------------------------
def create_job(job_request: JobRequest) -> tuple[Job, bool]:
    """Validate against the catalog, build the payload, save the job and enqueue it.

    Returns ``(job, created)``; a repeated ``Idempotency-Key`` gives the first job back.
    """
    key = job_request.idempotency_key
    if key:
        existing = Job.objects.filter(user_id=job_request.user_id, idempotency_key=key).first()
        if existing:
            return _replay(existing, job_request), False
    _check_active_limit(job_request.user_id)  # early, before any work; again at insert
    job = build_job(job_request)
    try:
        with transaction.atomic():
            _lock_user(job_request.user_id)
            _check_active_limit(job_request.user_id)
            job.save(force_insert=True)
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        if key:  # a concurrent retry with the same key won the race
            first = Job.objects.get(user_id=job_request.user_id, idempotency_key=key)
            return _replay(first, job_request), False
        raise
    if job_request.preset_id is not None:
        record_preset_use(job_request.preset_id)
    return job, True


def build_job(job_request: JobRequest, **fields: Any) -> Job:
    """An unsaved job with its exact A1111 payload (refusing what A1111 would mishandle)."""
    job = Job(
        user_id=job_request.user_id,
        kind=job_request.kind,
        request=job_request.received,
        preset_id=job_request.preset_id,
        idempotency_key=job_request.idempotency_key,
        request_fingerprint=job_request.fingerprint,
        priority=job_request.priority,
        webhook_url=job_request.webhook_url,
        api_key_id=job_request.api_key_id,
        base_url=job_request.base_url,
        **fields,
    )
    prepared = prepare_payload(job_request, job.task_id)
    job.payload = prepared.payload
    job.warnings = prepared.warnings
    job.total_steps = prepared.total_steps
    job.checkpoint = (prepared.payload.get("override_settings") or {}).get(
        "sd_model_checkpoint", ""
    )
    job.img2img = "init_images" in prepared.payload
    job.needs = needed_capabilities(prepared.payload)
    job.info = {"requested_loras": prepared.loras}
    return job


def create_group_jobs(group: JobGroup, jobs: list[Job]) -> None:
    """Save a group and its jobs together, with one dispatcher for all of them. A group
    counts as one request: its jobs are left out of the per-user active-job limit, and a
    user may have HUB_MAX_ACTIVE_GROUPS_PER_USER groups running at once."""
    with transaction.atomic():
        _lock_user(group.user_id)
        active = (
            JobGroup.objects.filter(user_id=group.user_id, jobs__status__in=Job.ACTIVE)
            .distinct()
            .count()
        )
        if active >= settings.HUB_MAX_ACTIVE_GROUPS_PER_USER:
            raise TooManyRequests(
                f"User {group.user_id!r} already has {active} sweep(s) running (the limit is "
                f"{settings.HUB_MAX_ACTIVE_GROUPS_PER_USER}). Wait for it, or cancel it.",
            )
        group.save(force_insert=True)
        for job in jobs:
            job.group = group
        Job.objects.bulk_create(jobs)
        transaction.on_commit(lambda: enqueue(jobs[0]))


def _replay(first: Job, job_request: JobRequest) -> Job:
    """The first job for a retried Idempotency-Key, if the body is the same (Stripe's rule:
    a key reused for another request is a client bug, not a retry)."""
    same = not first.request_fingerprint or first.request_fingerprint == job_request.fingerprint
    if not same or first.kind != job_request.kind:
        raise ApiError(
            f"Idempotency-Key {job_request.idempotency_key!r} was used for another request "
            f"(job {first.pk}). Use a new key for a new request; send the same body to retry.",
            code="idempotency_key_reused",
            status_code=422,
            job_id=str(first.pk),
        )
    return first


def _check_active_limit(user_id: str) -> None:
    active = Job.objects.filter(user_id=user_id, status__in=Job.ACTIVE, group__isnull=True).count()
    if active >= settings.HUB_MAX_ACTIVE_JOBS_PER_USER:
        raise TooManyRequests(
            f"User {user_id!r} already has {active} queued or running jobs (the limit is "
            f"{settings.HUB_MAX_ACTIVE_JOBS_PER_USER}). Wait for one to finish or cancel one.",
        )


def _lock_user(user_id: str) -> None:
    """Serialise one user's job inserts, so concurrent requests cannot pass the limit
    together. SQLite needs nothing: its IMMEDIATE transactions already take turns."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"jobs:{user_id}"])


def enqueue(job: Job) -> None:
    """Ask for a dispatcher. If the broker is down the job fails at once, saying so,
    rather than staying `queued` with nothing to run it."""
    if not dispatcher.enqueue_dispatch():
        failed = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message="The hub could not queue this job (the queue broker is unreachable). "
            "Check GET /health, then submit it again.",
        )
        if failed:
            events.job_changed(job, events.FAILED)


def cancel_job(job: Job) -> Job:
    """A queued job never starts; a running one is interrupted on its backend."""
    if job.is_final:
        raise Conflict(
            f"Job {job.id} is already {job.status}; only queued or running jobs can be cancelled.",
            code="job_finished",
            status=job.status,
        )
    now = timezone.now()
    cancelled = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        message="Cancelled before it started.",
    )
    if cancelled:
        events.job_changed(job, events.CANCELLED)
    else:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        interrupt_if_running(job)
    job.refresh_from_db()
    return job


def interrupt_if_running(job: Job) -> None:
    """Interrupt is global in A1111: only send it when this job holds the backend."""
    lease = BackendLease.objects.filter(job=job).select_related("backend").first()
    if lease is not None:
        interrupt(lease.backend)  # if it fails, the worker interrupts when it sees cancel_requested


def sweep_stale_jobs() -> int:
    """Housekeeping, every minute on its own queue: fail the jobs of dead workers (freeing
    their backends), fail jobs no backend can run, and start a dispatcher for what is
    queued (its task may have died with a worker, or a backend came back)."""
    count = scheduler.break_stale_leases()
    probe_all()  # backend health comes from here, not from whoever polls /health
    scheduler.fail_jobs_no_backend_can_run()
    if Job.objects.filter(status=Job.Status.QUEUED).exists():
        dispatcher.enqueue_dispatch()
    return count


def ensure_schedules() -> None:
    """The periodic housekeeping of jobs (idempotent: runhub calls it at every start)."""
    ensure_prune_schedule()  # images: retention and quota (generation_app.retention)
    housekeeping_schedule("sweep stale jobs", "generation_app.tasks.sweep", 1)
    housekeeping_schedule("webhooks and events", "generation_app.tasks.push_housekeeping", 1)
