from django.apps import AppConfig


class LorasAppConfig(AppConfig):
    name = "loras_app"
    verbose_name = "LoRA catalog"
