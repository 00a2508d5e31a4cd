"""The LoRA catalog: one row per LoRA file, its tags, and the scans that fill it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

# A row's ``source`` (and a scan's) is a LoRA root folder or a backend URL: this tells them
# apart, for every reader (hashing, previews, re-queued scans).
BACKEND_SCHEMES = ("http://", "https://")
TAG_NAME_CHARS = 200


def is_backend_source(source: str) -> bool:
    """True when ``source`` is a backend URL (the LoRA was listed by A1111, not read)."""
    return source.startswith(BACKEND_SCHEMES)


def backend_source_filter(field: str = "source") -> Q:
    """:func:`is_backend_source` as a query filter on ``field``."""
    q = Q()
    for scheme in BACKEND_SCHEMES:
        q |= Q(**{f"{field}__startswith": scheme})
    return q


def tag_name(tag: str) -> str:
    """How a tag is stored: trimmed, lower case, cut to the column's length."""
    return tag.strip().lower()[:TAG_NAME_CHARS]


class Tag(models.Model):
    """A training tag (from ``ss_tag_frequency``) or one added in the admin."""

    name = models.CharField(max_length=TAG_NAME_CHARS, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Lora(models.Model):
    """One LoRA file, as found on disk or listed by an A1111 backend."""

    filename = models.CharField(
        max_length=255, unique=True, help_text="What users send, e.g. character_lora.safetensors."
    )
    name = models.CharField(max_length=255, help_text="Display name.")
    alias = models.CharField(max_length=255, blank=True, help_text="ss_output_name, else stem.")
    prompt_name = models.CharField(
        max_length=255, help_text="The NAME A1111 resolves in <lora:NAME:w>."
    )
    relative_path = models.CharField(max_length=1024, db_index=True)
    source = models.CharField(
        max_length=1024, blank=True, help_text="The LoRA root folder or the backend URL."
    )
    size = models.BigIntegerField(default=0)
    mtime = models.FloatField(default=0)
    sidecar_mtime = models.FloatField(default=0, help_text="mtime of A1111's NAME.json.")
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    short_hash = models.CharField(max_length=12, blank=True, help_text="A1111's 12-hex hash.")
    base_model = models.CharField(max_length=32, blank=True, db_index=True)
    trigger_words = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, through="LoraTag", related_name="loras", blank=True)
    description = models.TextField(blank=True)
    preferred_weight = models.FloatField(default=1.0)
    preview = models.CharField(
        max_length=1024, blank=True, help_text="Preview image, relative to the LoRA root."
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="Raw __metadata__.")
    enabled = models.BooleanField(default=True)
    missing = models.BooleanField(default=False)
    edited_fields = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Fields edited by hand; scans keep them.",
    )
    first_seen = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(default=timezone.now)
    # Denormalised for search: "names\nkeywords", normalised (see search.search_text).
    search_text = models.TextField(blank=True, editable=False)
    name_key = models.CharField(max_length=255, blank=True, editable=False, db_index=True)

    class Meta:
        ordering = ["-first_seen", "-id"]
        indexes = [models.Index(fields=["enabled", "missing", "-first_seen"], name="lora_listing")]

    def __str__(self) -> str:
        return self.filename

    @property
    def stem(self) -> str:
        return self.filename.rsplit(".", 1)[0] if "." in self.filename else self.filename

    @property
    def from_backend(self) -> bool:
        """Listed by an A1111 backend (no file the hub can read)."""
        return is_backend_source(self.source)


class LoraTag(models.Model):
    """A tag on a LoRA with how many training images carried it."""

    lora = models.ForeignKey(Lora, on_delete=models.CASCADE, related_name="lora_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="lora_tags")
    frequency = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-frequency", "tag__name"]
        constraints = [models.UniqueConstraint(fields=["lora", "tag"], name="unique_lora_tag")]

    def __str__(self) -> str:
        return f"{self.tag} ({self.frequency})"


class ScanRun(models.Model):
    """One catalog scan: what was asked, how it went, and its summary."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    source = models.CharField(max_length=1024, blank=True, help_text="Folder or backend URL(s).")
    hashes = models.BooleanField(default=False)
    prune = models.BooleanField(default=False)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    pruned = models.PositiveIntegerField(default=0)
    hashed = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{path, reason}], capped.")
    message = models.TextField(blank=True)
    files_per_second = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status})"


class ScanLock(models.Model):
    """A single row that a scan holds while it runs, so two scans never overlap.

    Taken with one conditional UPDATE (atomic on SQLite and PostgreSQL); a holder that
    died lets go when ``expires_at`` passes, and a live one keeps pushing it forward.
    """

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.PositiveBigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"


class LoraCivitai(models.Model):
    """What Civitai says about a LoRA, looked up by the file's sha256 — kept apart from what
    the file (and an admin) says, so neither ever overwrites the other."""

    class Status(models.TextChoices):
        FOUND = "found"
        NOT_FOUND = "not_found"
        FAILED = "failed"

    lora = models.OneToOneField(
        Lora, on_delete=models.CASCADE, primary_key=True, related_name="civitai"
    )
    sha256 = models.CharField(max_length=64, help_text="The file hash this answer is for.")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    model_id = models.PositiveBigIntegerField(null=True, blank=True)
    version_id = models.PositiveBigIntegerField(null=True, blank=True)
    model_name = models.CharField(max_length=255, blank=True)
    version_name = models.CharField(max_length=255, blank=True)
    model_type = models.CharField(max_length=32, blank=True, help_text="LORA, LoCon, …")
    base_model = models.CharField(max_length=64, blank=True, help_text="As Civitai names it.")
    trained_words = models.JSONField(default=list, blank=True)
    nsfw = models.BooleanField(default=False)
    preview_url = models.URLField(max_length=1024, blank=True, help_text="On Civitai.")
    thumbnail = models.CharField(
        max_length=255, blank=True, help_text="A small copy, in the hub's media storage."
    )
    fetched_at = models.DateTimeField(null=True, blank=True, help_text="Last answer.")
    attempts = models.PositiveIntegerField(default=0, help_text="Misses since the last find.")
    next_try_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "Civitai information"
        verbose_name_plural = "Civitai information"

    def __str__(self) -> str:
        return f"{self.lora_id}: {self.status}"

    @property
    def page_url(self) -> str:
        if not self.model_id:
            return ""
        url = f"https://civitai.com/models/{self.model_id}"
        return f"{url}?modelVersionId={self.version_id}" if self.version_id else url

    @property
    def found(self) -> bool:
        return self.status == self.Status.FOUND
