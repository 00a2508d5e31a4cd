from django.contrib import admin

from backends.models import Backend


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = [
        "url",
        "name",
        "enabled",
        "healthy",
        "is_simulator",
        "loaded_checkpoint",
        "last_checked_at",
    ]
    list_filter = ["enabled", "healthy", "is_simulator"]
    search_fields = ["url", "name"]
    readonly_fields = [
        "is_simulator",
        "loaded_checkpoint",
        "capabilities",
        "last_checked_at",
        "last_error",
    ]
