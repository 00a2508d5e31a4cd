"""Jobs, their images, and the leases that bind a running job to its backend."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from backends.models import Backend
from core.models import ApiKey


class JobGroup(models.Model):
    """Jobs sent as one request: the cells of a sweep. Their states make the group's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20, default="sweep")
    axes = models.JSONField(default=list, help_text="[{field, values}], x first.")
    request = models.JSONField(default=dict, help_text="The request as received.")
    sheet = models.CharField(max_length=300, blank=True, help_text="Contact sheet, in storage.")
    sheet_bytes = models.PositiveBigIntegerField(default=0, editable=False)  # the user's quota
    # Payload fields every cell shares (an img2img sweep's init image and mask), stored once
    # here rather than in each cell; emptied when the last cell ends.
    shared_payload = models.JSONField(default=dict, blank=True, editable=False)
    # A retried request with the same key answers this group (as Job.idempotency_key).
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "idempotency_key"], name="unique_group_idempotency_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Job(models.Model):
    """One generation request, from queued to a final state. Our table is the truth."""

    class Kind(models.TextChoices):
        TXT2IMG = "txt2img"
        IMG2IMG = "img2img"
        INPAINT = "inpaint"
        OUTPAINT = "outpaint"
        CONTROLNET = "controlnet"
        REGIONAL = "regional"
        UPSCALE = "upscale"  # extras: /sdapi/v1/extra-single-image

    class Status(models.TextChoices):
        QUEUED = "queued"
        PAUSED = "paused", "Paused by its user (keeps its place)"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, help_text="What happened, in words a user can act on.")
    warnings = models.JSONField(default=list, blank=True)
    request = models.JSONField(default=dict, help_text="The request as received (images elided).")
    payload = models.JSONField(default=dict, help_text="The exact body sent to A1111.")
    info = models.JSONField(default=dict, blank=True, help_text="A1111's decoded `info`.")
    preset_id = models.BigIntegerField(null=True, blank=True)
    group = models.ForeignKey(
        JobGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    cell = models.JSONField(
        default=dict, blank=True, help_text="In a sweep: this job's value on each axis."
    )
    priority = models.SmallIntegerField(default=0, help_text="From the API key that sent it.")
    # Domain facts the runner needs, kept apart from the A1111 wire payload.
    checkpoint = models.CharField(
        max_length=300, blank=True, help_text="The checkpoint title the job asks for, if any."
    )
    img2img = models.BooleanField(default=False, help_text="Runs on A1111's img2img route.")
    needs = models.JSONField(
        default=list, blank=True, help_text="Capabilities needed beyond the kind's (adetailer)."
    )
    backend = models.ForeignKey(
        Backend, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # NULL, not "": many jobs have no key, and the unique constraint must ignore them.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # sha256 of the request body as received: a replayed key must come with the same body.
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    cancel_requested = models.BooleanField(default=False)
    # Push: job events go to this URL (the request's webhook_url, else the key's default),
    # signed with the webhook secret of the key that sent the job.
    webhook_url = models.CharField(max_length=2000, blank=True)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The hub's URL as the client saw it: links in events are absolute without a request.
    base_url = models.CharField(max_length=300, blank=True)
    # Where it was asked for (communities): the policy decided what a flagged image becomes.
    community_id = models.CharField(max_length=100, blank=True, db_index=True)
    channel_id = models.CharField(max_length=100, blank=True)
    nsfw_action = models.CharField(
        max_length=10,
        default="allow",
        help_text="What a flagged image becomes: block, blur, spoiler or allow.",
    )
    cost = models.FloatField(default=0, help_text="Budget units charged.")
    # The picture this job was made from (rerun, variations, upscale, remix): lineage.
    parent_job_id = models.UUIDField(null=True, blank=True, db_index=True)
    parent_image_index = models.PositiveIntegerField(null=True, blank=True)
    # Its place among its user's queued jobs (moves swap places; other users' order stays).
    queue_key = models.DateTimeField(default=timezone.now, db_index=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when retention or the user's quota deleted the job's images (the row stays).
    images_pruned_at = models.DateTimeField(null=True, blank=True)
    images_pruned_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["user_id", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "idempotency_key"], name="unique_idempotency_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def task_id(self) -> str:
        """The id A1111 tracks this job under (``force_task_id``)."""
        return f"task(hub-{self.id})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class JobImage(models.Model):
    """One image a job produced, stored (Django's storage API) with a thumbnail and a
    compressed copy."""

    class Role(models.TextChoices):
        IMAGE = "image"
        CONTROL_MAP = "control_map", "ControlNet detected map"
        EXTRA = "extra", "Grid, mask or other extra"
        GRID = "grid", "The hub's grid of the batch"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveIntegerField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.IMAGE)
    file = models.CharField(max_length=300, help_text="Name in the default storage.")
    thumbnail = models.CharField(max_length=300, blank=True)
    compressed = models.CharField(
        max_length=300, blank=True, help_text="A JPEG under HUB_COMPRESSED_MAX_BYTES."
    )
    bytes = models.PositiveBigIntegerField(default=0, help_text="All its stored files.")
    variants = models.JSONField(
        default=dict, blank=True, help_text="original/thumbnail/compressed: bytes, size, type."
    )
    seed = models.BigIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    infotext = models.TextField(blank=True)
    # The safety detector's verdict ({nsfw, score, labels, action}); {} when it is off.
    safety = models.JSONField(default=dict, blank=True)
    withheld = models.CharField(
        max_length=300, blank=True, help_text="The original of a blocked or blurred image."
    )
    # The gallery: whose it is and what it shows (copied from the job, so a page of a
    # million-image gallery is one index scan), and what the user did with it.
    user_id = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    favorite = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="unique_image_index_per_job")
        ]
        indexes = [
            models.Index(fields=["user_id", "-id"], name="gallery_newest"),
            models.Index(fields=["user_id", "favorite", "-id"], name="gallery_favorites"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index}"


class GalleryImage(JobImage):
    """The gallery, for operators: every user's pictures (the admin's view of JobImage)."""

    class Meta:
        proxy = True
        verbose_name = "gallery image"


class ImageTag(models.Model):
    """A user's tag on one of their images."""

    image = models.ForeignKey(JobImage, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "name"], name="unique_tag_per_image")
        ]
        indexes = [models.Index(fields=["name", "image"], name="image_tag_name")]

    def __str__(self) -> str:
        return self.name


class BackendLease(models.Model):
    """A backend held by one job. A1111 runs one generation at a time, so a backend has at
    most one lease (the primary key): taking one is an INSERT that only one worker wins.
    The holder renews ``heartbeat_at`` while it runs; a lease whose heartbeat went stale
    belongs to a dead worker and is broken by the sweep."""

    backend = models.OneToOneField(
        Backend, primary_key=True, on_delete=models.CASCADE, related_name="lease"
    )
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="lease")
    claimed_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.backend} -> {self.job_id}"


class JobEvent(models.Model):
    """A change of a job's state, as pushed to clients: the rows of the per-user stream
    (its increasing id is the SSE event id, the ``Last-Event-ID`` to resume from) and the
    messages webhooks deliver. Pruned after HUB_EVENT_RETENTION_HOURS."""

    class Type(models.TextChoices):
        STARTED = "job.started"
        PROGRESS = "job.progress"
        COMPLETED = "job.completed"
        FAILED = "job.failed"
        CANCELLED = "job.cancelled"

    id = models.BigAutoField(primary_key=True)
    user_id = models.CharField(max_length=200)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=20, choices=Type.choices)
    payload = models.JSONField(help_text="{type, timestamp, data}: the body webhooks POST.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user_id", "id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.job_id}"


class WebhookDelivery(models.Model):
    """One event POSTed (and retried) to one webhook URL."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (next attempt scheduled)"
        DELIVERED = "delivered"
        FAILED = "failed", "Failed (gave up)"

    event = models.ForeignKey(JobEvent, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=2000)
    message_id = models.CharField(
        max_length=64, unique=True, help_text="webhook-id: the same on every retry."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Of the last try.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.url} ({self.status})"
