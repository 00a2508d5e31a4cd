"""What a user does to their own pictures: star, tag, delete. One function each."""

from __future__ import annotations

from django.db import transaction

from generation_app.media.storage import delete_stored
from generation_app.models import ImageTag, Job, JobImage


def set_favorite(image: JobImage, favorite: bool) -> JobImage:
    JobImage.objects.filter(pk=image.pk).update(favorite=favorite)
    image.favorite = favorite
    return image


def set_tags(image: JobImage, tags: list[str]) -> list[str]:
    """Replace the picture's tags (trimmed, lower-cased, each once)."""
    names = sorted({tag.strip().lower() for tag in tags if tag.strip()})
    with transaction.atomic():
        ImageTag.objects.filter(image=image).delete()
        ImageTag.objects.bulk_create([ImageTag(image=image, name=name) for name in names])
    return names


def delete_image(image: JobImage) -> None:
    """The picture's row and files, and the batch grid it was part of (a grid would still
    show it). A job whose pictures are all gone says so."""
    grids = list(image.job.images.filter(role=JobImage.Role.GRID))
    with transaction.atomic():
        JobImage.objects.filter(pk__in=[image.pk, *(g.pk for g in grids)]).delete()
        if not image.job.images.filter(role=JobImage.Role.IMAGE).exists():
            note = " Its images were deleted by their user."
            Job.objects.filter(pk=image.job_id).update(message=(image.job.message + note).strip())
    for row in [image, *grids]:
        delete_stored(row.file, row.thumbnail, row.compressed, row.withheld)
