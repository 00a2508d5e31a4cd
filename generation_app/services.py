"""Jobs: turning a validated request into a queued job, its queue position, cancel."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, F
from django.utils import timezone
from django_q.tasks import async_task

from a1111hub.errors import ApiError, Conflict, TooManyRequests
from generation_app.backends import interrupt
from generation_app.models import Backend, Job
from generation_app.payloads import BuildInputs, LoraRef, build_payload, prompt_lora_names

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "generation_app.tasks.run_job"


@dataclass
class JobRequest:
    """A generation request after validation, ready to become a job."""

    kind: str
    user_id: str
    params: dict[str, Any]  # validated generation parameters and kind-specific A1111 fields
    received: dict[str, Any]  # the request as received, images elided, for the record
    preset_id: int | None = None
    idempotency_key: str | None = None
    scripts: dict[str, Any] = field(default_factory=dict)  # alwayson_scripts to add
    warnings: list[str] = field(default_factory=list)


# --- the pieces a payload is merged from -----------------------------------------------
def _session_state(user_id: str) -> dict[str, Any]:
    from sessions_app.services import session_state

    return session_state(user_id)


def _preset(user_id: str, preset_id: int | None):
    if preset_id is None:
        return None
    from presets_app.services import get_preset_for_generation

    return get_preset_for_generation(user_id, preset_id)


def _catalog_loras(filenames: set[str], prompt_names: set[str]) -> dict[str, LoraRef]:
    from loras_app.models import Lora

    rows = Lora.objects.filter(filename__in=filenames) | Lora.objects.filter(
        prompt_name__in=prompt_names
    )
    return {
        row.filename: LoraRef(row.filename, row.prompt_name, row.enabled, row.missing)
        for row in rows
    }


def _checkpoint_titles() -> dict[str, str]:
    """Every name a user may give a checkpoint -> its exact title (never silently dropped)."""
    from a1111hub.services import models_catalog

    try:
        catalog = models_catalog()
    except ApiError:
        return {}
    titles: dict[str, str] = {}
    for checkpoint in catalog["checkpoints"]:
        title = checkpoint["title"]
        name = title.rsplit(" [", 1)[0]
        for alias in (title, name, checkpoint["name"], checkpoint.get("hash")):
            if alias:
                titles[alias] = title
    return titles


def _refuse_unknown_loras(requested: dict[str, float], prompt: str, catalog: dict[str, LoraRef]):
    """A1111 ignores a LoRA it does not know; the hub says so before queueing instead."""
    from loras_app.models import Lora
    from loras_app.search import suggest

    unknown = [f for f in requested if f not in catalog]
    if unknown:
        raise ApiError(
            f"Unknown LoRA(s): {', '.join(unknown)}. Use a filename from GET /loras.",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in unknown},
        )
    known_names = {ref.prompt_name for ref in catalog.values()}
    in_prompt = prompt_lora_names(prompt) - known_names
    if in_prompt and Lora.objects.exists():
        raise ApiError(
            "The prompt names LoRA(s) A1111 would silently ignore: "
            + ", ".join(sorted(in_prompt))
            + ". Check the names with GET /loras (or POST /loras/scan if they are new).",
            code="unknown_lora",
            suggestions={name: suggest(name) for name in sorted(in_prompt)},
        )


def prepare_payload(job_request: JobRequest, task_id: str) -> tuple[dict, list[str], dict, int]:
    session = _session_state(job_request.user_id)
    preset = _preset(job_request.user_id, job_request.preset_id)
    preset_params = dict(preset.params) if preset else {}
    preset_loras = dict(preset.loras) if preset else {}
    params = job_request.params
    requested_loras = dict(params.get("loras") or {})
    prompt = params.get("prompt") or preset_params.get("prompt") or ""
    filenames = set(session["active_loras"]) | set(preset_loras) | set(requested_loras)
    catalog_loras = _catalog_loras(filenames, prompt_lora_names(prompt))
    _refuse_unknown_loras(requested_loras, prompt, catalog_loras)

    from generation_app.params import custom_settings_to_params

    built = build_payload(
        BuildInputs(
            kind=job_request.kind,
            request=params,
            defaults=settings.HUB_GENERATION_DEFAULTS,
            custom_settings=custom_settings_to_params(session["custom_settings"]),
            preset_params=preset_params,
            session_loras=session["active_loras"],
            preset_loras=preset_loras,
            catalog_loras=catalog_loras,
            checkpoint_titles=_checkpoint_titles(),
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
    if job_request.scripts:
        built.payload["alwayson_scripts"] = job_request.scripts
    return built.payload, job_request.warnings + built.warnings, built.loras, built.total_steps


# --- creating, finding, cancelling ------------------------------------------------------
def create_job(job_request: JobRequest) -> tuple[Job, bool]:
    """Validate against the catalog, build the payload, save the job and enqueue it.

    Returns ``(job, created)``; a repeated ``Idempotency-Key`` gives the first job back.
    """
    key = job_request.idempotency_key
    if key:
        existing = Job.objects.filter(user_id=job_request.user_id, idempotency_key=key).first()
        if existing:
            return existing, False
    _check_active_limit(job_request.user_id)  # early, before any work; again at insert
    job = Job(
        user_id=job_request.user_id,
        kind=job_request.kind,
        request=job_request.received,
        preset_id=job_request.preset_id,
        idempotency_key=key,
    )
    payload, warnings, loras, total_steps = prepare_payload(job_request, job.task_id)
    job.payload = payload
    job.warnings = warnings
    job.total_steps = total_steps
    job.info = {"requested_loras": loras}
    try:
        with transaction.atomic():
            _lock_user(job_request.user_id)
            _check_active_limit(job_request.user_id)
            job.save(force_insert=True)
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        if key:  # a concurrent retry with the same key won the race
            return Job.objects.get(user_id=job_request.user_id, idempotency_key=key), False
        raise
    if job_request.preset_id is not None:
        from presets_app.services import record_preset_use

        record_preset_use(job_request.preset_id)
    return job, True


def _check_active_limit(user_id: str) -> None:
    active = Job.objects.filter(user_id=user_id, status__in=Job.ACTIVE).count()
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
    """Hand the job to django-q2. If the broker is down the job fails at once, saying so,
    rather than staying `queued` with no task behind it."""
    try:
        async_task(
            RUN_JOB_TASK, str(job.id), task_name=f"job-{job.id}", timeout=settings.JOB_TIMEOUT
        )
    except Exception as exc:  # the broker's own driver errors (Redis, database)
        logger.exception("Could not enqueue job %s", job.id)
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message=f"The hub could not queue this job ({exc.__class__.__name__}: the queue "
            "broker is unreachable). Check GET /health, then submit it again.",
        )


def queue_position(job: Job) -> int | None:
    """1 = next to start. Jobs queue in one FIFO across users, like A1111's own lock."""
    if job.status != Job.Status.QUEUED:
        return None
    return Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=job.created_at).count() + 1


def typical_duration() -> float | None:
    """Mean run time of the last 20 completed jobs, in seconds."""
    recent = (
        Job.objects.filter(status=Job.Status.COMPLETED, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("id", flat=True)[:20]
    )
    mean = (
        Job.objects.filter(id__in=list(recent))
        .annotate(duration=F("finished_at") - F("started_at"))
        .aggregate(mean=Avg("duration"))["mean"]
    )
    return mean.total_seconds() if mean else None


def estimate_eta(job: Job, position: int | None) -> float | None:
    if job.status == Job.Status.RUNNING:
        return job.eta_seconds
    if position is None:
        return None
    typical = typical_duration()
    if typical is None:
        return None
    backends = max(1, Backend.objects.filter(enabled=True).count())
    return round(typical * (position + backends - 1) / backends, 1)


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
    if not cancelled:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        interrupt_if_running(job)
    job.refresh_from_db()
    return job


def interrupt_if_running(job: Job) -> None:
    """Interrupt is global in A1111: only send it when this job holds the backend."""
    backend = Backend.objects.filter(current_job=job).first()
    if backend is not None:
        interrupt(backend)  # if it fails, the worker interrupts when it sees cancel_requested


def stale_running_jobs():
    cutoff = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS)
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)


def sweep_stale_jobs() -> int:
    """Fail jobs whose worker died (no heartbeat) and free their backends. Never re-runs."""
    count = 0
    for job in stale_running_jobs():
        updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message=(
                "The worker running this job stopped responding (no heartbeat for "
                f"{settings.HUB_JOB_STALE_SECONDS} s), so the job was failed rather than "
                "run twice. Submit it again."
            ),
        )
        count += updated
        Backend.objects.filter(current_job=job).update(current_job=None)
    # A job that was waiting for a backend when its worker died never reached A1111:
    # running it is safe, so it goes back on the queue.
    cutoff = timezone.now() - timedelta(seconds=settings.HUB_JOB_STALE_SECONDS)
    for job in Job.objects.filter(status=Job.Status.QUEUED, heartbeat_at__lt=cutoff):
        if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, heartbeat_at__lt=cutoff).update(
            heartbeat_at=None, message="Re-queued: the worker holding it stopped."
        ):
            enqueue(job)
    # A backend held by a job that has ended is free again (self-healing after a crash).
    Backend.objects.filter(current_job__status__in=Job.FINAL).update(current_job=None)
    return count


def ensure_schedules() -> None:
    """The periodic sweep, created once (idempotent)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="sweep stale jobs",
        defaults={
            "func": "generation_app.tasks.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
