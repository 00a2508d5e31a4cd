from django.apps import AppConfig


class WebuiConfig(AppConfig):
    """/app: the web interface for people, a static client of the public API."""

    name = "webui"
    verbose_name = "Web app"
