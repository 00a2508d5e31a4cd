from django import forms
from django.contrib import admin
from rest_framework.exceptions import ValidationError as ApiValidationError

from genparams.controlnet import validate_controlnet_units
from genparams.params import validate_generation_params
from presets_app.models import Preset


def _messages(detail, where: str = "") -> list[str]:
    """DRF's nested error detail as flat "field: message" lines for the admin form."""
    if isinstance(detail, dict):
        return [m for key, value in detail.items() for m in _messages(value, f"{where}{key}: ")]
    if isinstance(detail, list):
        return [m for value in detail for m in _messages(value, where)]
    return [f"{where}{detail}"]


class PresetAdminForm(forms.ModelForm):
    """Edits in the admin meet the same rules as the API, so no bad preset slips in here."""

    class Meta:
        model = Preset
        fields = [
            "owner_id",
            "name",
            "description",
            "visibility",
            "params",
            "loras",
            "controlnet_units",
            "regional_config",
        ]

    def _checked(self, field: str, validate):
        try:
            return validate(self.cleaned_data[field])
        except ApiValidationError as exc:
            raise forms.ValidationError(_messages(exc.detail)) from None

    def clean_params(self):
        return self._checked("params", validate_generation_params)

    def clean_controlnet_units(self):
        return self._checked("controlnet_units", validate_controlnet_units)


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    form = PresetAdminForm
    list_display = ["name", "owner_id", "visibility", "usage_count", "updated_at"]
    list_filter = ["visibility"]
    search_fields = ["owner_id", "name", "description"]
    readonly_fields = ["share_code", "usage_count", "copied_from", "created_at", "updated_at"]
    fields = [
        "owner_id",
        "name",
        "description",
        "visibility",
        "share_code",
        "params",
        "loras",
        "controlnet_units",
        "regional_config",
        "usage_count",
        "copied_from",
        "created_at",
        "updated_at",
    ]
