from django.apps import AppConfig


class GenerationAppConfig(AppConfig):
    name = "generation_app"
    verbose_name = "Generation (jobs and backends)"

    def ready(self) -> None:
        # Imported for what they register: the webhook admin, the receivers of job_changed
        # (events, streams, webhooks; budget refunds), and the kinds that need an extension
        # or another call.
        from generation_app.admission import rooms  # noqa: F401
        from generation_app.controlnet import intake as controlnet_intake  # noqa: F401
        from generation_app.delivery import admin, events  # noqa: F401
        from generation_app.extras import upscale  # noqa: F401
        from generation_app.regional import intake as regional_intake  # noqa: F401
