import base64

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from generation_app.jobs.cancel import cancel_job
from generation_app.media.storage import read_bytes
from generation_app.media.variants import ensure_variant
from generation_app.models import BackendLease, GalleryImage, Job, JobImage


@admin.register(BackendLease)
class BackendLeaseAdmin(admin.ModelAdmin):
    """Which job holds which backend. Deleting a lease frees a backend by hand (the sweep
    does it by itself once the holder's heartbeat is stale)."""

    list_display = ["backend", "job", "claimed_at", "heartbeat_at"]
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def thumbnail_html(image: JobImage):
    # Inline the small WebP thumbnail: the admin needs no media route of its own.
    if not image.thumbnail:
        return "-"
    try:
        ensure_variant(image, image.thumbnail)
        data = base64.b64encode(read_bytes(image.thumbnail)).decode()
    except FileNotFoundError:
        return "-"
    return format_html('<img src="data:image/webp;base64,{}" style="max-height:96px">', data)


@admin.register(GalleryImage)
class GalleryAdmin(admin.ModelAdmin):
    """A user's pictures with their thumbnails, favourites and lineage: filter by user
    (search their id), favourites, kind."""

    list_display = [
        "preview",
        "user_id",
        "short_prompt",
        "favorite",
        "kind",
        "lineage",
        "created_at",
    ]
    list_filter = ["favorite", "job__kind"]
    search_fields = ["=user_id", "prompt"]
    list_select_related = ["job"]
    readonly_fields = [f.name for f in JobImage._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(role=JobImage.Role.IMAGE).order_by("-id")

    @admin.display(description="Image")
    def preview(self, image: JobImage):
        return thumbnail_html(image)

    @admin.display(description="Prompt")
    def short_prompt(self, image: JobImage) -> str:
        return Truncator(image.prompt).chars(80)

    @admin.display(description="Kind")
    def kind(self, image: JobImage) -> str:
        return image.job.kind

    @admin.display(description="Made from")
    def lineage(self, image: JobImage) -> str:
        job = image.job
        return (
            f"{str(job.parent_job_id)[:8]} #{job.parent_image_index}" if job.parent_job_id else "-"
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class JobImageInline(admin.TabularInline):
    """The images a job made, shown, never edited or added."""

    model = JobImage
    extra = 0
    can_delete = False
    fields = ["index", "role", "preview", "seed", "width", "height", "favorite", "infotext"]
    readonly_fields = fields

    @admin.display(description="Image")
    def preview(self, image: JobImage):
        return thumbnail_html(image)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """A job is a record of what happened: read-only. Deleting one is allowed (a user's
    privacy), and cancelling an active one is an action."""

    # Short columns: the list fits a 1400 px laptop screen next to the filter sidebar.
    list_display = ["short_id", "user", "kind", "state", "backend", "created_at", "run_time"]
    list_select_related = ["backend"]
    list_filter = ["status", "kind", "backend"]
    search_fields = ["id", "user_id", "message"]
    date_hierarchy = "created_at"
    inlines = [JobImageInline]
    readonly_fields = [
        "id", "user_id", "kind", "status", "progress", "eta_seconds", "step", "total_steps",
        "message", "warnings", "request", "payload_sent", "info", "preset_id", "backend",
        "idempotency_key", "cancel_requested", "created_at", "started_at", "finished_at", "heartbeat_at",
    ]  # fmt: skip
    exclude = ["payload"]
    actions = ["cancel"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description="User", ordering="user_id")
    def user(self, job: Job) -> str:
        return Truncator(job.user_id).chars(24)

    @admin.display(description="Status", ordering="status")
    def state(self, job: Job) -> str:
        if job.status == Job.Status.RUNNING:
            return f"running {job.progress:.0%}"
        return job.status

    @admin.display(description="Run time")
    def run_time(self, job: Job) -> str:
        if not (job.started_at and job.finished_at):
            return "—"
        return f"{(job.finished_at - job.started_at).total_seconds():.1f} s"

    @admin.display(description="Payload sent to A1111 (images elided)")
    def payload_sent(self, job: Job):
        return {
            k: (f"<{len(v)} image(s)>" if k in ("init_images", "mask") else v)
            for k, v in job.payload.items()
        }

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        cancelled = 0
        for job in queryset.filter(status__in=Job.ACTIVE):
            cancel_job(job)
            cancelled += 1
        self.message_user(request, f"Cancel requested for {cancelled} job(s).")
