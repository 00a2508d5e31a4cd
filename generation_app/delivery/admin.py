"""Admin for pushed job events and webhook deliveries: what was sent, where, how it went,
and a "Send again" action. Registered from GenerationAppConfig.ready()."""

from __future__ import annotations

from django.contrib import admin

from generation_app.delivery import webhooks
from generation_app.models import JobEvent, WebhookDelivery


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ["url", "status", "tries", "last_status_code", "last_error", "next_attempt_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "user_id", "job", "created_at"]
    list_filter = ["type"]
    search_fields = ["user_id", "job__id"]
    readonly_fields = ["id", "type", "user_id", "job", "payload", "created_at"]
    inlines = [DeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "message_id",
        "event_type",
        "url",
        "status",
        "tries",
        "last_status_code",
        "latency_ms",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type"]
    search_fields = ["url", "message_id", "event__user_id", "event__job__id"]
    readonly_fields = [
        "event",
        "url",
        "message_id",
        "status",
        "tries",
        "last_status_code",
        "last_error",
        "latency_ms",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    list_select_related = ["event"]
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.action(description="Send again now (one more try, retried as usual)")
    def send_again(self, request, queryset):
        count = webhooks.resend(queryset)
        self.message_user(request, f"Queued {count} delivery(ies) again.")
