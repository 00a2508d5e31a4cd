from django.contrib import admin
from django.db.models import Count

from sessions_app.models import SessionLora, UserSession


class SessionLoraInline(admin.TabularInline):
    model = SessionLora
    extra = 0
    fields = ["filename", "weight", "added_at"]
    readonly_fields = ["added_at"]


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ["user_id", "lora_count", "updated_at", "created_at"]
    search_fields = ["user_id", "loras__filename"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [SessionLoraInline]
    date_hierarchy = "updated_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lora_count=Count("loras"))

    @admin.display(description="active LoRAs", ordering="_lora_count")
    def lora_count(self, obj: UserSession) -> int:
        return obj._lora_count
