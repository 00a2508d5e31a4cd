"""Running one claimed job on its backend: call A1111, follow its progress, store the images.

No database transaction is held across an HTTP call to A1111: every write here is a short
single-statement UPDATE, so the web process and other workers are never blocked by a
generation in progress.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from a1111.client import A1111Client, A1111Error
from a1111.messages import actionable_message
from backends.models import Backend
from backends.registry import client_for, interrupt, mark_unhealthy
from core import wake
from generation_app.jobs.cancel import CANCEL_SIGNAL
from generation_app.jobs.groups import a1111_payload, release_shared_inputs
from generation_app.jobs.kinds import a1111_call
from generation_app.jobs.outcome import completion_warnings
from generation_app.jobs.signals import announce, announce_final
from generation_app.media.previews import remove_preview, store_preview
from generation_app.media.safety import WITHHOLDING, screen
from generation_app.media.variants import grid_row, image_row, store_result_image
from generation_app.models import BackendLease, Job, JobEvent, JobImage
from generation_app.scheduling import claims, rule
from generation_app.scheduling.rule import Claim

logger = logging.getLogger(__name__)

# A running job looks for a cancel when one is signalled (core.wake), and at least this
# often (a cancel from a machine the signal does not reach). Its heartbeat (the sweep reads
# it) is written with each progress, and at least this often (at most a quarter of
# HUB_JOB_STALE_SECONDS), as is its lease's, shown in the admin.
CANCEL_RECHECK_SECONDS = 5.0
HEARTBEAT_SECONDS = 5.0


def run_claim(claim: Claim, on_release: Callable[[], None] | None = None) -> None:
    """Run a claimed job on its leased backend, giving the lease back as soon as A1111 is
    done with it: storing the images is the hub's work, and the backend can start its next
    job meanwhile. ``on_release`` is told at once (the dispatcher claims again)."""
    job, backend = claim.job, claim.backend
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            claims.release(backend, job)
            wake.send(claims.DISPATCH_SIGNAL)  # other dispatchers may have a job for it
            if on_release is not None:
                on_release()

    try:
        _execute(job, backend, release)
    except A1111Error as exc:  # only a refused connection comes back here
        _refused(job, backend, exc)
    except Exception as exc:
        logger.exception("Job %s failed unexpectedly", job.pk)
        finish(
            job,
            Job.Status.FAILED,
            f"Internal error in the hub ({exc.__class__.__name__}); it was logged.",
        )
    finally:
        release()


def _refused(job: Job, backend: Backend, exc: A1111Error) -> None:
    """The request never reached A1111, so running the job elsewhere is safe: back on the
    queue if another backend could take it, else failed saying what to check."""
    mark_unhealthy(backend, exc.message)
    message = f"Backend unreachable: {actionable_message(exc)}"
    others = list(claims.usable_backends().exclude(pk=backend.pk))
    job_view = rule.QueuedJob(job.pk, job.user_id, job.kind, job.checkpoint, job.priority,
                              job.created_at, tuple(job.needs or ()))  # fmt: skip
    titles = rule.checkpoint_titles(others)
    if any(rule.can_run(job_view, other, titles) for other in others):
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.QUEUED,
            backend=None,
            started_at=None,
            heartbeat_at=None,
            message=f"{message} Waiting for another backend.",
        )
    else:
        finish(job, Job.Status.FAILED, message)


# --- running ----------------------------------------------------------------------------
def _execute(job: Job, backend: Backend, release: Callable[[], None]) -> None:
    client = client_for(backend)
    call = a1111_call(job.kind, job.img2img, client)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"a1111-{job.pk}")
    future: Future = pool.submit(call, a1111_payload(job))
    announce(job, JobEvent.Type.STARTED, current=True)  # as claimed; the request is on its way
    try:
        cancelled = _follow(job, backend, future)
        result = future.result()
    except A1111Error as exc:
        if exc.failure == "connect":
            raise  # never reached A1111: run() may try another backend
        if exc.failure == "timeout":
            # A1111 may still be generating; stop it before the backend is handed on.
            interrupt(backend)
        elif exc.unreachable:
            mark_unhealthy(backend, exc.message)
        finish(job, Job.Status.FAILED, _failure_message(exc))
        return
    finally:
        pool.shutdown(wait=True)
        client.close()
        remove_preview(str(job.pk))  # a preview is for a running job only
    # A1111 keeps an overridden model loaded: the next claim prefers it.
    if job.checkpoint and job.checkpoint != backend.loaded_checkpoint:
        Backend.objects.filter(pk=backend.pk).update(loaded_checkpoint=job.checkpoint)
    release()
    rows = _store_results(job, result)
    if cancelled:
        count = _count(rows, JobImage.Role.IMAGE)
        finish(
            job,
            Job.Status.CANCELLED,
            f"Cancelled while running; {count} finished image(s) kept.",
            info=job.info,
        )
        return
    _complete(job, rows)


@dataclass
class PreviewPoll:
    """Live previews of one running job: asked for at most once per ``interval`` (A1111
    decodes a preview for each request), stored only when it changed."""

    job_id: str
    interval: float
    asked_at: float = -math.inf
    id_live_preview: int = -1  # the last one stored (/internal/progress)
    digest: str = ""  # of the last one stored (/sdapi/v1/progress has no id)
    stored: int = 0

    def due(self) -> bool:
        return time.monotonic() - self.asked_at >= self.interval

    def asked(self) -> None:
        self.asked_at = time.monotonic()

    def offer(self, data: str | None, id_live_preview: int | None = None) -> None:
        if not data:
            return
        digest = hashlib.blake2b(data.encode(), digest_size=16).hexdigest()
        if digest == self.digest:
            return
        if store_preview(self.job_id, data):
            self.digest, self.stored = digest, self.stored + 1
            if id_live_preview is not None:
                self.id_live_preview = int(id_live_preview)


def _preview_poll(job: Job) -> PreviewPoll | None:
    """None when the request said ``live_preview: false`` (A1111 is then asked for none),
    and where a flagged image would be withheld or blurred: a preview is not classified."""
    if (job.request or {}).get("live_preview", True) is False or job.nsfw_action in WITHHOLDING:
        return None
    interval = settings.HUB_PREVIEW_INTERVAL
    return PreviewPoll(str(job.pk), max(interval, 0.0))


def _follow(job: Job, backend: Backend, future: Future) -> bool:
    """Poll progress until the call returns; interrupt on cancel. Returns True if cancelled."""
    progress_client = client_for(backend, read_timeout=5.0)
    use_task_progress = backend.capabilities.get("internal_progress", True)
    interrupted = False
    preview = _preview_poll(job)
    cancels, cancels_checked = object(), -math.inf  # the first poll looks
    lease_renewed = beat_at = time.monotonic()  # both written by the claim
    beat_every = min(HEARTBEAT_SECONDS, settings.HUB_JOB_STALE_SECONDS / 4)
    try:
        while True:
            # Wakes the moment A1111 answers: polling must not add latency to a fast job.
            done, _ = wait([future], timeout=settings.HUB_PROGRESS_INTERVAL)
            if done:
                break
            latest, now = wake.read(CANCEL_SIGNAL), time.monotonic()
            if latest != cancels or now - cancels_checked >= CANCEL_RECHECK_SECONDS:
                cancels, cancels_checked = latest, now
                state = Job.objects.filter(pk=job.pk).values("cancel_requested").first()
                if state and state["cancel_requested"] and not interrupted:
                    try:
                        progress_client.interrupt()
                        interrupted = True
                    except A1111Error as exc:
                        logger.warning("Interrupt failed for job %s: %s", job.pk, exc)
            update, use_task_progress = _read_progress(
                progress_client, job, use_task_progress, preview
            )
            if not update and now - beat_at < beat_every:
                continue  # nothing new to write, and the heartbeat is recent
            beat_at = now
            update["heartbeat_at"] = timezone.now()
            moved = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**update)
            for name, value in update.items():  # the row as written (if moved), for the event
                setattr(job, name, value)
            if moved and "progress" in update:
                announce(job, JobEvent.Type.PROGRESS, current=True)
            if now - lease_renewed >= beat_every:
                lease_renewed = now
                BackendLease.objects.filter(job=job).update(heartbeat_at=update["heartbeat_at"])
    finally:
        progress_client.close()
        if preview is not None:
            job.info = {**job.info, "live_previews": preview.stored}
        if backend.capabilities.get("internal_progress", True) != use_task_progress:
            Backend.objects.filter(pk=backend.pk).update(
                capabilities={**backend.capabilities, "internal_progress": use_task_progress}
            )
    return interrupted or bool(Job.objects.filter(pk=job.pk, cancel_requested=True).exists())


def _read_progress(
    client: A1111Client, job: Job, use_task_progress: bool, preview: PreviewPoll | None = None
) -> tuple[dict[str, Any], bool]:
    """Progress of *this* job: by its task id where A1111 has /internal/progress, else the
    global progress (valid because the hub holds this backend for this job alone).

    When a live preview is due, A1111 is asked for it (``live_preview`` /
    ``skip_current_image``) and a changed one is stored; otherwise it is not asked, so the
    answers stay small."""
    want = preview is not None and preview.due()
    try:
        if use_task_progress:
            try:
                data = client.task_progress(
                    job.task_id,
                    id_live_preview=preview.id_live_preview if want else -1,
                    live_preview=want,
                )
            except A1111Error as exc:
                if exc.status == 404:  # --nowebui: no /internal routes
                    return _read_progress(client, job, False, preview)
                raise
            if data.get("queued"):
                return {
                    "message": f"Waiting in A1111's own queue ({data.get('textinfo') or 'busy'})."
                }, True
            if not data.get("active"):
                return {}, True
            if want:
                preview.asked()
                preview.offer(data.get("live_preview"), data.get("id_live_preview"))
            fraction = float(data.get("progress") or 0.0)
            eta = data.get("eta")
        else:
            data = client.progress(skip_current_image=not want)
            if want:
                preview.asked()
                preview.offer(data.get("current_image"))
            fraction = float(data.get("progress") or 0.0)
            eta = data.get("eta_relative")
    except A1111Error:
        return {}, use_task_progress  # a missed poll is not an error; the call decides
    fraction = max(0.0, min(fraction, 0.99))
    return (
        {
            "progress": fraction,
            "eta_seconds": round(float(eta), 1) if eta is not None else None,
            "step": min(job.total_steps, round(fraction * job.total_steps)),
        },
        use_task_progress,
    )


def _failure_message(exc: A1111Error) -> str:
    if exc.failure == "timeout":
        return (
            f"A1111 at {exc.url} did not answer within {settings.A1111_GENERATION_TIMEOUT:.0f} s "
            "(timed out); the hub interrupted it. Lower steps or size, or raise "
            "A1111_GENERATION_TIMEOUT."
        )
    if exc.unreachable:
        return f"Backend unreachable: {actionable_message(exc)}"
    advice = ""
    text = exc.message.lower()
    if "out of memory" in text:
        advice = " Lower the size, batch size or hires scale, or free VRAM on the A1111 server."
    elif exc.status == 422:
        advice = " The hub sent a request A1111 refused; please report it with the job id."
    elif "model not found" in text:
        advice = " Check the name against GET /controlnet/models or GET /models."
    return f"A1111 failed (HTTP {exc.status}): {exc.message}.{advice}"


def _store_results(job: Job, result: dict[str, Any]) -> list[JobImage]:
    """Store the images and their rows; A1111's ``info`` goes on ``job.info``, written with
    the job's final state (:func:`finish`). Returns the rows."""
    info = result.get("info") or {}
    images = result.get("images") or []
    seeds = info.get("all_seeds") or []
    infotexts = info.get("infotexts") or []
    first = int(info.get("index_of_first_image") or 0)
    rows = []
    for index, b64 in enumerate(images):
        n = index - first
        generated = 0 <= n < len(seeds)
        role = JobImage.Role.IMAGE if generated else JobImage.Role.EXTRA
        if not generated and n >= 0 and job.kind == Job.Kind.CONTROLNET:
            role = JobImage.Role.CONTROL_MAP
        screened = screen(str(job.pk), index, b64, job.nsfw_action) if generated else None
        stored = store_result_image(str(job.pk), index, screened.b64 if screened else b64)
        infotext = (infotexts[index] if index < len(infotexts) else "") or stored.infotext
        seed = seeds[n] if generated else None
        rows.append(image_row(job, index, role, stored, seed, infotext, screened))
    grid = grid_row(job, rows)  # a batch also comes as one image
    if grid is not None:
        rows.append(grid)
    JobImage.objects.bulk_create(rows)  # a job runs once: it has no rows to replace
    job.info = {**job.info, **info}
    return rows


def _count(rows: list[JobImage], role: str) -> int:
    return sum(1 for row in rows if row.role == role)


def _complete(job: Job, rows: list[JobImage]) -> None:
    count, maps = _count(rows, JobImage.Role.IMAGE), _count(rows, JobImage.Role.CONTROL_MAP)
    seconds = (timezone.now() - job.started_at).total_seconds() if job.started_at else 0
    finish(
        job,
        Job.Status.COMPLETED,
        f"Generated {count} image(s) in {seconds:.1f} s.",
        progress=1.0,
        info=job.info,
        warnings=[*job.warnings, *completion_warnings(job, maps)],
    )


def finish(
    job: Job, status: str, message: str, progress: float | None = None, **columns: Any
) -> None:
    """Move a job to a final state, once: a job that already ended keeps its state (and
    gets ``columns``, what the run adds to the row: its ``info``, its ``warnings``). One
    UPDATE; the event is rendered from the row as written."""
    update: dict[str, Any] = {
        "status": status,
        "message": message,
        "finished_at": timezone.now(),
        "eta_seconds": 0,
        **columns,
    }
    if progress is not None:
        update["progress"] = progress
        update["step"] = job.total_steps
    moved = Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE).update(**update)
    if moved:
        for name, value in update.items():
            setattr(job, name, value)
    else:
        if columns:
            Job.objects.filter(pk=job.pk).update(**columns)
        job.refresh_from_db()
    if moved:
        announce_final(job, current=True)
        if job.group_id:
            release_shared_inputs(job.group_id)
