from django.apps import AppConfig


class HubConfig(AppConfig):
    """The project: settings, urls, runhub and the benchmarks. It owns no models (its
    migrations only record that the API key table moved to ``core``)."""

    name = "a1111hub"
    verbose_name = "Hub"
