"""The operator's view of communities: policies, channels, bans, the audit log, charges."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from communities.models import AuditEntry, Ban, Channel, Charge, Community
from communities.services import checked_defaults, checked_policy


class PolicyFormMixin(forms.ModelForm):
    """Policies and defaults are checked as the API checks them."""

    def clean_policy(self):
        try:
            return checked_policy(self.cleaned_data.get("policy"))
        except Exception as exc:  # a serializers.ValidationError
            raise forms.ValidationError(str(getattr(exc, "detail", exc))) from None

    def clean_defaults(self):
        try:
            return checked_defaults(self.cleaned_data.get("defaults"))
        except Exception as exc:
            raise forms.ValidationError(str(getattr(exc, "detail", exc))) from None


class ChannelForm(PolicyFormMixin):
    class Meta:
        model = Channel
        fields = ["channel_id", "nsfw", "policy", "defaults"]


class CommunityForm(PolicyFormMixin):
    class Meta:
        model = Community
        fields = ["id", "name", "policy", "defaults"]


class ChannelInline(admin.TabularInline):
    model = Channel
    form = ChannelForm
    extra = 0


class BanInline(admin.TabularInline):
    model = Ban
    extra = 0
    fields = ["user_id", "reason", "banned_by", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    form = CommunityForm
    list_display = ["id", "name", "updated_at"]
    search_fields = ["id", "name"]
    inlines = [ChannelInline, BanInline]


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    list_display = ["user_id", "community", "reason", "banned_by", "created_at"]
    list_filter = ["community"]
    search_fields = ["user_id", "reason"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "community", "channel_id", "user_id", "verdict", "rule", "kind"]
    list_filter = ["verdict", "community"]
    search_fields = ["user_id", "prompt", "job_id", "channel_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Charge)
class ChargeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "community", "user_id", "units", "refunded", "job_id"]
    list_filter = ["refunded", "community"]
    search_fields = ["user_id", "job_id"]
