"""The catalog's editor: browse, filter, enable/disable, edit, and scan now."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Count
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html

from core.errors import ApiError
from loras_app import edits, selectors
from loras_app.models import Lora, LoraTag, ScanRun, Tag
from loras_app.scan import runs


class LoraTagInline(admin.TabularInline):
    model = LoraTag
    extra = 1
    autocomplete_fields = ["tag"]


class TagFilter(admin.SimpleListFilter):
    """The 50 most used tags (a full list of thousands would be useless)."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        top = Tag.objects.annotate(n=Count("lora_tags")).order_by("-n", "name")[:50]
        return [(t.name, f"{t.name} ({t.n})") for t in top]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(lora_tags__tag__name=self.value())
        return queryset


@admin.register(Lora)
class LoraAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "name",
        "filename",
        "base_model",
        "tag_list",
        "enabled",
        "missing",
        "size_mb",
    ]
    list_display_links = ["name"]
    list_filter = ["base_model", TagFilter, "enabled", "missing"]
    search_fields = ["name", "filename", "alias", "search_text"]
    list_per_page = 50
    actions = ["enable", "disable", "scan_now"]
    inlines = [LoraTagInline]
    fields = [
        "preview_image",
        "filename",
        "name",
        "alias",
        "prompt_name",
        "trigger_words",
        "description",
        "preferred_weight",
        "enabled",
        "missing",
        "base_model",
        "relative_path",
        "source",
        "size",
        "sha256",
        "short_hash",
        "first_seen",
        "last_seen",
        "metadata_pretty",
    ]
    readonly_fields = [
        "preview_image",
        "filename",
        "alias",
        "prompt_name",
        "missing",
        "base_model",
        "relative_path",
        "source",
        "size",
        "sha256",
        "short_hash",
        "first_seen",
        "last_seen",
        "metadata_pretty",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lora_tags__tag")

    def get_urls(self):
        urls = [
            path(
                "<int:lora_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="loras_app_lora_preview",
            )
        ]
        return urls + super().get_urls()

    def preview_view(self, request, lora_id: int):
        lora = Lora.objects.filter(pk=lora_id).first()
        file = selectors.preview_path(lora) if lora else None
        if file is None:
            raise Http404("No preview")
        return FileResponse(open(file, "rb"))

    @admin.display(description="")
    def thumbnail(self, lora: Lora) -> str:
        if not lora.preview:
            return "—"
        url = reverse("admin:loras_app_lora_preview", args=[lora.pk])
        return format_html(
            '<img src="{}" style="height:48px;width:48px;object-fit:cover" alt="">', url
        )

    @admin.display(description="Preview")
    def preview_image(self, lora: Lora) -> str:
        if not lora.pk or not lora.preview:
            return "—"
        url = reverse("admin:loras_app_lora_preview", args=[lora.pk])
        return format_html('<img src="{}" style="max-height:256px" alt="">', url)

    @admin.display(description="Tags")
    def tag_list(self, lora: Lora) -> str:
        return ", ".join(link.tag.name for link in list(lora.lora_tags.all())[:5])

    @admin.display(description="Size (MB)", ordering="size")
    def size_mb(self, lora: Lora) -> str:
        return f"{lora.size / 1e6:.1f}"

    @admin.display(description="Raw metadata (__metadata__)")
    def metadata_pretty(self, lora: Lora) -> str:
        return format_html(
            "<pre style='max-height:400px;overflow:auto'>{}</pre>",
            json.dumps(lora.metadata, indent=2)[:200_000],
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        edited = list(form.changed_data)
        if any(f.has_changed() for f in formsets):
            edited.append("tags")
        edits.mark_edited(form.instance, edited)

    @admin.action(description="Enable selected LoRAs")
    def enable(self, request, queryset):
        count = edits.set_enabled(list(queryset.values_list("pk", flat=True)), True)
        self.message_user(request, f"Enabled {count} LoRA(s).", messages.SUCCESS)

    @admin.action(description="Disable selected LoRAs")
    def disable(self, request, queryset):
        count = edits.set_enabled(list(queryset.values_list("pk", flat=True)), False)
        self.message_user(request, f"Disabled {count} LoRA(s).", messages.SUCCESS)

    @admin.action(description="Scan now (the whole catalog, in the background)")
    def scan_now(self, request, queryset):
        try:
            run = runs.start_scan()
        except ApiError as exc:
            self.message_user(request, str(exc.detail), messages.WARNING)
            return
        url = reverse("admin:loras_app_scanrun_change", args=[run.pk])
        self.message_user(
            request, format_html('Scan <a href="{}">{}</a> queued.', url, run.pk), messages.SUCCESS
        )


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name"]


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "source",
        "added",
        "updated",
        "unchanged",
        "missing",
        "error_count",
        "created_at",
    ]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ScanRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
