"""What a sweep's cells share: an img2img sweep's init image and mask, stored once on the
group instead of copied into every cell (a 4.9 MB image over 64 cells grew the database by
848 MB), put back into a cell's payload when it is sent, and dropped when the sweep ends."""

from __future__ import annotations

from typing import Any

from generation_app.models import Job, JobGroup

SHARED_FIELDS = ("init_images", "mask")


def share_inputs(group: JobGroup, jobs: list[Job]) -> None:
    """Move the fields every cell has alike from the cells' payloads to the group."""
    if not jobs:
        return
    shared = {
        name: jobs[0].payload[name]
        for name in SHARED_FIELDS
        if name in jobs[0].payload
        and all(job.payload.get(name) == jobs[0].payload[name] for job in jobs)
    }
    for job in jobs:
        for name in shared:
            job.payload.pop(name)
    group.shared_payload = shared


def a1111_payload(job: Job) -> dict[str, Any]:
    """The payload to send: the job's own, with its group's shared fields put back."""
    if not job.group_id:
        return job.payload
    shared = JobGroup.objects.filter(pk=job.group_id).values_list("shared_payload", flat=True)
    return {**job.payload, **(shared.first() or {})}


def release_shared_inputs(group_id: Any = None) -> int:
    """Empty the shared fields of ended sweeps (one, or all): no cell will need them."""
    groups = JobGroup.objects.exclude(shared_payload={})
    if group_id is not None:
        groups = groups.filter(pk=group_id)
    ended = groups.exclude(jobs__status__in=Job.ACTIVE)
    return JobGroup.objects.filter(pk__in=ended.values("pk")).update(shared_payload={})
