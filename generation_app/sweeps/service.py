"""A sweep's rows: planned for the one door (admission), followed, cancelled."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rest_framework import serializers

from core.errors import Conflict
from generation_app.admission.service import Plan
from generation_app.jobs.build import JobRequest, build_job
from generation_app.jobs.cancel import cancel_job
from generation_app.jobs.groups import release_shared_inputs, share_inputs
from generation_app.models import Job, JobGroup
from generation_app.sweeps.axes import Axis, apply_cell, cells


# --- creating, following, cancelling ----------------------------------------------------
def plan_sweep(base: JobRequest, axes: list[Axis], received: dict[str, Any]) -> Plan:
    """The group and one unsaved job per cell; admission saves them together. A sweep
    counts as one request: its cells are left out of the per-user active-job limit, and
    a user may have HUB_MAX_ACTIVE_GROUPS_PER_USER sweeps running at once."""
    if int(base.params.get("batch_size") or 1) * int(base.params.get("batch_count") or 1) > 1:
        raise serializers.ValidationError(
            {"base": ["A sweep makes one image per cell; leave batch_size and batch_count at 1."]}
        )
    group = JobGroup(
        user_id=base.user_id,
        axes=[{"field": a.field, "values": a.values} for a in axes],
        request=received,
    )
    jobs = [
        build_job(replace(base, params=apply_cell(base.params, cell, axes)), cell=cell)
        for cell in cells(axes)
    ]
    share_inputs(group, jobs)
    return Plan(jobs, group)


@dataclass
class SweepStatus:
    group: JobGroup
    status: str
    progress: float
    counts: dict[str, int]
    jobs: list[Job]


def sweep_status(group: JobGroup) -> SweepStatus:
    jobs = list(group.jobs.defer("payload", "request", "info").order_by("created_at", "id"))
    counts = {s: 0 for s in Job.Status.values}
    for job in jobs:
        counts[job.status] += 1
    done = counts[Job.Status.COMPLETED]
    if counts[Job.Status.QUEUED] == len(jobs):
        status = "queued"
    elif counts[Job.Status.QUEUED] or counts[Job.Status.RUNNING]:
        status = "running"
    elif done == len(jobs):
        status = "completed"
    elif done:
        status = "partial"
    elif counts[Job.Status.CANCELLED] == len(jobs):
        status = "cancelled"
    else:
        status = "failed"
    progress = sum(1.0 if j.is_final else j.progress for j in jobs) / max(1, len(jobs))
    return SweepStatus(group, status, round(progress, 3), counts, jobs)


def cancel_sweep(group: JobGroup) -> int:
    """Cancel every cell still queued or running; the finished ones stay."""
    cancelled = 0
    for job in group.jobs.filter(status__in=Job.ACTIVE):
        try:
            cancel_job(job)
            cancelled += 1
        except Conflict:
            pass  # it finished meanwhile
    release_shared_inputs(group.pk)
    return cancelled
