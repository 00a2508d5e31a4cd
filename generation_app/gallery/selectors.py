"""A user's images, newest first, filtered: the gallery's one query.

Rows carry their user and prompt (copied from the job when stored), so a page is one scan
of the ``(user_id, -id)`` index; a text search is ``prompt`` containing each word — on
PostgreSQL a trigram GIN index on ``UPPER(prompt)`` answers it (Django's ``icontains``
compiles to ``UPPER(prompt) LIKE UPPER(%word%)``), on SQLite a scan of the user's rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from generation_app.models import JobImage

MAX_WORDS = 8


def gallery(user_id: str, filters: dict[str, Any]) -> QuerySet:
    images = JobImage.objects.filter(user_id=user_id, role=JobImage.Role.IMAGE)
    if filters.get("favorite") is not None:
        images = images.filter(favorite=filters["favorite"])
    if filters.get("tag"):
        images = images.filter(tags__name=filters["tag"])
    if filters.get("kind"):
        images = images.filter(job__kind=filters["kind"])
    if filters.get("checkpoint"):
        images = images.filter(job__checkpoint__icontains=filters["checkpoint"])
    if filters.get("lora"):
        images = images.filter(prompt__icontains=f"<lora:{filters['lora']}")
    if filters.get("community_id"):
        images = images.filter(job__community_id=filters["community_id"])
    since: datetime | None = filters.get("since")
    until: datetime | None = filters.get("until")
    if since:
        images = images.filter(created_at__gte=since)
    if until:
        images = images.filter(created_at__lt=until)
    for word in (filters.get("q") or "").split()[:MAX_WORDS]:
        images = images.filter(prompt__icontains=word)
    return images.select_related("job").prefetch_related("tags").order_by("-id")
