"""The one door: every job, whatever its kind, is created by :func:`submit`.

It applies, once and in this order: the caller may act for the user (403); a retried
``Idempotency-Key`` answers the first job or sweep (200, or 422 for another body); the
room — community, channel, bans (404/403); the user's generation rate (429); scripts
(service keys only, 403); the per-user active cap (429); the policy on what each planned
job asks for (caps, models, LoRAs, features, banned words: 400/403); its cost against the
budgets (429, or the lowest priority); a dry run stops there. Then it saves the rows,
charges the budget, writes the community's audit entry, and asks for a dispatcher once the
transaction commits.
Views and features describe *what* to create (a callable that plans unsaved rows); they
never save a job themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from communities import audit, budgets, rooms
from communities.rules import PolicyRefusal
from communities.rules import check as check_policy
from core.auth import require_may_act_for
from core.errors import ApiError, TooManyRequests
from core.throttles import check_generation_rate
from generation_app.admission.rooms import ask_of
from generation_app.admission.scripts import check_scripts, uses_scripts
from generation_app.delivery.webhooks import webhook_for
from generation_app.jobs.context import GenerationContext, read_context
from generation_app.jobs.signals import announce
from generation_app.models import Job, JobEvent, JobGroup
from generation_app.scheduling import dispatcher
from presets_app.services import record_preset_use

logger = logging.getLogger(__name__)

SWEEP = "sweep"  # the kind of a submission that makes a group of jobs
LOWEST_PRIORITY = -1000  # a job whose budget is spent, under a policy that downgrades


@dataclass
class Submission:
    """Who asks for what: the parts of a create request that every kind shares."""

    principal: Any  # core.auth.Principal
    user_id: str
    kind: str  # a Job.Kind, or SWEEP
    fields: dict[str, Any]  # the validated request (scripts are read from it)
    fingerprint: str = ""  # sha256 of the body as received (intake.fingerprint)
    idempotency_key: str | None = None
    preset_id: int | None = None
    webhook_url: str | None = None  # as requested; the key's default otherwise
    base_url: str = ""  # the hub as the client saw it, for absolute links in events
    img2img: bool = False  # which route's scripts to check against
    takes_scripts: bool = True  # False: script fields are refused, not passed on
    needs_context: bool = True  # read the session, preset and catalog for the plan
    community_id: str | None = None
    channel_id: str | None = None
    channel_nsfw: bool = False
    dry_run: bool = False  # answer what it would cost and which policy applies; save nothing


@dataclass
class Plan:
    """Unsaved rows: one job, or a group and its jobs (a sweep)."""

    jobs: list[Job]
    group: JobGroup | None = None


@dataclass
class Admitted:
    job: Job | None  # the job (None for a sweep)
    group: JobGroup | None  # the sweep (None for a job)
    created: bool  # False: a replay of the same Idempotency-Key
    warnings: list[str] = field(default_factory=list)
    dry_run: dict[str, Any] | None = None  # a dry run's answer (nothing was saved)


Planner = Callable[[GenerationContext | None], Plan]


def submit(submission: Submission, plan: Planner) -> Admitted:
    """Admit a request and create what ``plan`` describes, or answer the first one."""
    require_may_act_for(submission.principal, submission.user_id)
    first = _replay(submission)
    if first is not None:
        return first
    room = rooms.enter(
        submission.principal,
        submission.user_id,
        submission.community_id,
        submission.channel_id,
        submission.channel_nsfw,
    )
    if not submission.dry_run:
        check_generation_rate(submission.user_id)
    check_scripts(
        submission.principal,
        submission.fields,
        img2img=submission.img2img,
        allowed=submission.takes_scripts,
    )
    context = (
        read_context(submission.user_id, submission.preset_id) if submission.needs_context else None
    )
    if context is not None:
        context.community_defaults = room.defaults
    planned = plan(context)
    units = _apply_policy(room, planned, submission)
    quote = budgets.quote(room, submission.user_id, units)
    if submission.dry_run:
        return Admitted(None, None, False, dry_run=_dry_run_body(room, planned, quote))
    _stamp(planned, submission, room, quote)
    try:
        with transaction.atomic():
            _lock_user(submission.user_id)
            first = _replay(submission)  # a retry that won the lock first
            if first is not None:
                return first
            _check_active_limit(submission, room)  # under the user's lock: exact
            _save(planned)
            for job in planned.jobs:
                budgets.charge(room, submission.user_id, str(job.pk), job.cost)
            verdict = "downgraded" if quote.downgrade else "admitted"
            _audit(room, submission, planned, verdict, job_id=str(planned.jobs[0].pk), cost=units)
            transaction.on_commit(lambda: enqueue(planned.jobs[0]))
    except IntegrityError:
        first = _replay(submission)  # a concurrent retry with the same key won the race
        if first is None:
            raise
        return first
    if submission.preset_id is not None:
        record_preset_use(submission.preset_id)
    if planned.group is not None:
        return Admitted(None, planned.group, True)
    return Admitted(planned.jobs[0], None, True)


def _apply_policy(room: rooms.Room, planned: Plan, submission: Submission) -> float:
    """Refuse (and audit) what breaks the room's policy; return the request's cost."""
    scripts = uses_scripts(submission.fields)
    units = 0.0
    for job in planned.jobs:
        ask = ask_of(job, scripts)
        if submission.kind == SWEEP:
            ask.features.add("sweeps")
        try:
            check_policy(room.policy, ask, rooms.lora_labels)
        except PolicyRefusal as refusal:
            _audit(room, submission, planned, "refused", rule=refusal.rule, detail=str(refusal))
            raise
        job.cost = budgets.cost(ask)
        units += job.cost
    return round(units, 2)


def _audit(room, submission: Submission, planned: Plan, verdict: str, **extra) -> None:
    prompt = str((planned.jobs[0].payload or {}).get("prompt") or "") if planned.jobs else ""
    audit.record(
        room, submission.principal, submission.user_id, submission.kind, prompt, verdict, **extra
    )


def _dry_run_body(room: rooms.Room, planned: Plan, quote: budgets.Quote) -> dict[str, Any]:
    return {
        "dry_run": True,
        "jobs": len(planned.jobs),
        "community_id": room.community_id or None,
        "channel_id": room.channel_id or None,
        "nsfw": room.nsfw,
        **quote.as_dict(),
        **room.policy.as_dict(),
        "warnings": [w for job in planned.jobs[:1] for w in job.warnings],
    }


def _stamp(planned: Plan, submission: Submission, room, quote) -> None:
    """What every job gets from its submission: who sent it, where, and how to push to them."""
    url, api_key_id = webhook_for(submission.webhook_url, submission.principal)
    priority = LOWEST_PRIORITY if quote.downgrade else getattr(submission.principal, "priority", 0)
    for job in planned.jobs:
        job.user_id = submission.user_id
        job.priority = priority
        job.community_id, job.channel_id = room.community_id, room.channel_id
        job.nsfw_action = room.nsfw
        job.webhook_url, job.api_key_id = url, api_key_id
        job.base_url = submission.base_url
    target = planned.group if planned.group is not None else planned.jobs[0]
    target.idempotency_key = submission.idempotency_key
    target.request_fingerprint = submission.fingerprint


def _save(planned: Plan) -> None:
    if planned.group is None:
        planned.jobs[0].save(force_insert=True)
        return
    planned.group.save(force_insert=True)
    for job in planned.jobs:
        job.group = planned.group
    Job.objects.bulk_create(planned.jobs)


def _replay(submission: Submission) -> Admitted | None:
    """The first job or sweep for a retried Idempotency-Key, if the body is the same
    (Stripe's rule: a key reused for another request is a client bug, not a retry)."""
    key = submission.idempotency_key
    if not key:
        return None
    job = Job.objects.filter(user_id=submission.user_id, idempotency_key=key).first()
    group = None
    if job is None:
        group = JobGroup.objects.filter(user_id=submission.user_id, idempotency_key=key).first()
        if group is None:
            return None
    first = job or group
    kind = job.kind if job is not None else SWEEP
    same_body = not first.request_fingerprint or first.request_fingerprint == submission.fingerprint
    if not same_body or _family(kind) != _family(submission.kind):
        raise ApiError(
            f"Idempotency-Key {key!r} was used for another request ({kind} {first.pk}). Use "
            "a new key for a new request; send the same body to retry.",
            code="idempotency_key_reused",
            status_code=422,
            job_id=str(first.pk),
        )
    return Admitted(job, group, False)


def _family(kind: str) -> str:
    """img2img with a mask is saved as inpaint: a retry of it is the same request."""
    return Job.Kind.IMG2IMG if kind == Job.Kind.INPAINT else kind


def _check_active_limit(submission: Submission, room) -> None:
    user_id = submission.user_id
    if submission.kind == SWEEP:
        limit = settings.HUB_MAX_ACTIVE_GROUPS_PER_USER
        active = (
            JobGroup.objects.filter(user_id=user_id, jobs__status__in=Job.ACTIVE).distinct().count()
        )
        if active >= limit:
            raise TooManyRequests(
                f"User {user_id!r} already has {active} sweep(s) running (the limit is "
                f"{limit}). Wait for it, or cancel it.",
            )
        return
    limit = settings.HUB_MAX_ACTIVE_JOBS_PER_USER
    by_policy = room.policy.get("max_active_jobs")
    if by_policy is not None and by_policy < limit:
        limit = by_policy
    active = Job.objects.filter(user_id=user_id, status__in=Job.ACTIVE, group__isnull=True).count()
    if active >= limit:
        raise TooManyRequests(
            f"User {user_id!r} already has {active} queued or running jobs (the limit is "
            f"{limit}). Wait for one to finish or cancel one.",
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
            announce(job, JobEvent.Type.FAILED)
