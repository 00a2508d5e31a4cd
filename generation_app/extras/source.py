"""A stored result as the source of an upscale or a caption, for a caller who may see it."""

from __future__ import annotations

from django.core.files.storage import default_storage

from core.auth import require_may_act_for
from core.errors import NotFound
from generation_app.media.uploads import CheckedImage, check_image
from generation_app.models import Job, JobImage


def source_image(principal, job_id, index: int) -> tuple[CheckedImage, Job]:
    """Image ``index`` of a stored result ``principal`` (the caller) may see."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No job {job_id}.", code="job_not_found")
    require_may_act_for(principal, job.user_id)
    image = job.images.filter(role=JobImage.Role.IMAGE, index=index).first()
    if image is None:
        count = job.images.filter(role=JobImage.Role.IMAGE).count()
        raise NotFound(
            f"Job {job_id} has no image {index} ({count} image(s), status {job.status}).",
            code="image_not_found",
        )
    try:
        with default_storage.open(image.file, "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, OSError):
        raise NotFound(
            f"Image {index} of job {job_id} is gone from storage.", code="image_not_found"
        ) from None
    return check_image(raw, "image"), job
