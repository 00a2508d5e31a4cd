from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator tools: /metrics, the admin's name and its dashboard page."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "A1111 Hub"
        admin.site.site_title = "A1111 Hub"
        admin.site.index_title = "A1111 Hub"
        # The stock index plus a link to the dashboard (ops/templates/ops/admin_index.html).
        admin.site.index_template = "ops/admin_index.html"
