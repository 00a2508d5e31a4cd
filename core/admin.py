from django.contrib import admin, messages

from core.auth import forget_cached_keys
from core.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "kind",
        "user_id",
        "priority",
        "is_active",
        "created_at",
        "last_used_at",
        "expires_at",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "user_id", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = [
        "name",
        "user_id",
        "priority",
        "is_admin",
        "is_active",
        "expires_at",
        "webhook_url",
        "prefix",
        "created_at",
        "last_used_at",
    ]
    actions = ["revoke", "show_webhook_secret"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.kind = ApiKey.Kind.USER if obj.user_id else ApiKey.Kind.SERVICE
        else:
            raw = obj.set_new_secret()
            messages.warning(request, f"New API key (shown once, copy it now): {raw}")
        super().save_model(request, obj, form, change)
        if not change:
            messages.info(request, f"Its webhook signing secret: {obj.webhook_secret}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        updated = queryset.update(is_active=False)
        forget_cached_keys()  # bulk update sends no signal
        self.message_user(request, f"Revoked {updated} key(s).")

    @admin.action(description="Show the webhook signing secret of selected keys")
    def show_webhook_secret(self, request, queryset):
        for key in queryset[:20]:
            self.message_user(request, f"{key}: webhook secret {key.webhook_secret}")
