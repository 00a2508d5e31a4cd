from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "a1111hub"
    verbose_name = "Hub (API keys)"
