"""What a finished job keeps besides A1111's images: the grid of a batch."""

from __future__ import annotations

import logging

from generation_app.images import store_grid
from generation_app.models import Job, JobImage

logger = logging.getLogger(__name__)


def grid_row(job: Job, rows: list[JobImage]) -> JobImage | None:
    """The grid of a batch of two or more generated images, as a JobImage row (role grid,
    after the last index); None for one image. A grid that cannot be made is logged and
    left out: the images themselves are what the job owes."""
    generated = [row for row in rows if row.role == JobImage.Role.IMAGE]
    try:
        stored = store_grid(str(job.pk), [row.file for row in generated])
    except Exception:
        logger.exception("Job %s: could not make the grid of its batch", job.pk)
        return None
    if stored is None:
        return None
    return JobImage(
        job=job,
        index=max((row.index for row in rows), default=-1) + 1,
        role=JobImage.Role.GRID,
        file=stored.file,
        thumbnail=stored.thumbnail,
        bytes=stored.bytes,
        variants=stored.variants,
        width=stored.width,
        height=stored.height,
        infotext=stored.infotext,
    )
