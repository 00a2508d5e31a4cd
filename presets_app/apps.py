from django.apps import AppConfig


class PresetsAppConfig(AppConfig):
    name = "presets_app"
    verbose_name = "Presets"
