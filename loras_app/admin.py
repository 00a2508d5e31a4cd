"""The catalog's editor: browse, filter, enable/disable, edit, and scan now."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.files.storage import default_storage
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.text import Truncator

from core.errors import ApiError
from loras_app import civitai, edits, search, selectors
from loras_app.models import Lora, LoraCivitai, ScanRun, Tag
from loras_app.scan import runs

SEARCH_RANK = "_search_rank"


def split_list(text: str) -> list[str]:
    """What a person typed as a list: one item per line, or comma-separated on one line
    (so a trigger phrase with commas survives when given on a line of its own). A pasted
    JSON list is taken as it is. Blank items and repeats are dropped, order kept."""
    text = (text or "").strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    parts = text.splitlines() if "\n" in text else text.split(",")
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


class ListField(forms.CharField):
    """A list of strings edited as text, one per line (comma-separated also accepted)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value):
        return split_list(super().to_python(value))


class LoraForm(forms.ModelForm):
    trigger_words = ListField(
        required=False,
        help_text="One per line, or comma-separated on one line. Added to prompts as given.",
    )
    tag_names = ListField(
        required=False,
        label="Tags",
        help_text="One per line, or comma-separated on one line (stored in lower case).",
    )

    class Meta:
        model = Lora
        fields = ["name", "trigger_words", "description", "preferred_weight", "enabled"]
        # Admin help texts are HTML: the model's says <lora:NAME:w>, which a browser swallows.
        help_texts = {"prompt_name": escape(Lora._meta.get_field("prompt_name").help_text)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tag_names"] = [link.tag.name for link in self.instance.lora_tags.all()]


class RankedChangeList(ChangeList):
    """While searching, the best match first (the rank get_search_results annotates),
    unless a column header was clicked."""

    def get_ordering(self, request, queryset):
        if SEARCH_RANK in queryset.query.annotations and ORDER_VAR not in self.params:
            return [SEARCH_RANK, "-pk"]
        return super().get_ordering(request, queryset)


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
    form = LoraForm
    # Narrow columns: the list fits a 1400 px laptop screen next to the filter sidebar.
    list_display = ["thumbnail", "lora", "base_model", "tag_list", "enabled", "missing", "size_mb"]
    list_display_links = ["lora"]
    list_filter = ["base_model", TagFilter, "enabled", "missing"]
    # The API's fuzzy search (see get_search_results), plus plain substring matches on these.
    search_fields = ["name", "filename", "alias", "search_text"]
    search_help_text = "Fuzzy, as the API searches: names, trigger words and tags; typos forgiven."
    list_per_page = 50
    actions = ["enable", "disable", "scan_now", "look_up_on_civitai"]
    fields = [
        "preview_image",
        "filename",
        "name",
        "alias",
        "prompt_name",
        "trigger_words",
        "tag_names",
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
        "civitai_info",
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
        "civitai_info",
        "metadata_pretty",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lora_tags__tag")

    def get_search_results(self, request, queryset, search_term):
        """The API's ranked fuzzy search over every row (disabled and missing ones too),
        best first, plus what the stock substring search finds."""
        q = search.normalize(search_term)
        if not q:
            return super().get_search_results(request, queryset, search_term)
        every = search.Filters(enabled=None, include_missing=True)
        ranked = search.rank(q, search.candidates(q, every))
        plain, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        rank = Case(
            *(When(pk=pk, then=Value(i)) for i, pk in enumerate(ranked)),
            default=Value(len(ranked)),
            output_field=IntegerField(),
        )
        found = queryset.filter(Q(pk__in=ranked) | Q(pk__in=plain.values("pk")))
        return found.annotate(**{SEARCH_RANK: rank}), may_have_duplicates

    def get_changelist(self, request, **kwargs):
        return RankedChangeList

    def get_urls(self):
        urls = [
            path(
                "<int:lora_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="loras_app_lora_preview",
            ),
            path(
                "<int:lora_id>/civitai-thumbnail/",
                self.admin_site.admin_view(self.civitai_thumbnail_view),
                name="loras_app_lora_civitai_thumbnail",
            ),
        ]
        return urls + super().get_urls()

    def preview_view(self, request, lora_id: int):
        lora = Lora.objects.filter(pk=lora_id).first()
        file = selectors.preview_path(lora) if lora else None
        if file is None:
            raise Http404("No preview")
        return FileResponse(open(file, "rb"))

    def civitai_thumbnail_view(self, request, lora_id: int):
        lora = Lora.objects.filter(pk=lora_id).first()
        name = selectors.civitai_thumbnail(lora) if lora else None
        if name is None:
            raise Http404("No Civitai thumbnail")
        return FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")

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

    @admin.display(description="LoRA", ordering="name")
    def lora(self, lora: Lora) -> str:
        name = Truncator(lora.name).chars(48)
        if lora.filename == f"{lora.name}.safetensors":
            return name
        return format_html(
            '{}<br><small style="color:var(--body-quiet-color)">{}</small>',
            name,
            Truncator(lora.filename).chars(48),
        )

    @admin.display(description="Tags")
    def tag_list(self, lora: Lora) -> str:
        names = ", ".join(link.tag.name for link in list(lora.lora_tags.all())[:3])
        return Truncator(names).chars(40)

    @admin.display(description="Size (MB)", ordering="size")
    def size_mb(self, lora: Lora) -> str:
        return f"{lora.size / 1e6:.1f}"

    @admin.display(description="Civitai (read-only; the fields above win)")
    def civitai_info(self, lora: Lora) -> str:
        row = LoraCivitai.objects.filter(lora=lora).first() if lora.pk else None
        if row is None:
            return "Not looked up (CIVITAI_ENRICH, action “Look up on Civitai”)."
        rows = [
            ("Status", row.get_status_display()),
            ("Model", row.model_name),
            ("Version", row.version_name),
            ("Type", row.model_type),
            ("Base model", row.base_model),
            ("Trained words", ", ".join(row.trained_words)),
            ("NSFW", "yes" if row.nsfw else "no"),
            ("Looked up", row.fetched_at),
            ("Next try", row.next_try_at),
            ("Last error", row.last_error),
        ]
        table = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", [(k, v) for k, v in rows if v not in ("", None)]
        )
        page = (
            format_html('<a href="{0}" rel="noreferrer">{0}</a>', row.page_url)
            if row.page_url
            else ""
        )
        image = ""
        if row.thumbnail:
            url = reverse("admin:loras_app_lora_civitai_thumbnail", args=[lora.pk])
            image = format_html('<img src="{}" style="max-height:128px" alt="">', url)
        return format_html("{}<table>{}</table>{}", image, table, page)

    @admin.display(description="Raw metadata (__metadata__)")
    def metadata_pretty(self, lora: Lora) -> str:
        return format_html(
            "<pre style='max-height:400px;overflow:auto'>{}</pre>",
            json.dumps(lora.metadata, indent=2)[:200_000],
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        edited = list(form.changed_data)
        if "tag_names" in edited:
            edits.set_tags(form.instance, form.cleaned_data["tag_names"])
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

    @admin.action(description="Look up on Civitai (by sha256, in the background)")
    def look_up_on_civitai(self, request, queryset):
        if not settings.CIVITAI_ENRICH:
            self.message_user(
                request, "Civitai enrichment is off (set CIVITAI_ENRICH=1).", messages.WARNING
            )
            return
        ids = list(queryset.exclude(sha256="").values_list("pk", flat=True))
        if not civitai.queue_enrichment(ids, refresh=True):
            self.message_user(request, "None of them is hashed yet.", messages.WARNING)
            return
        self.message_user(request, f"Looking up {len(ids)} LoRA(s) on Civitai.", messages.SUCCESS)


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
