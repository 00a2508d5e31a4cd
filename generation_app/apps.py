from django.apps import AppConfig


class GenerationAppConfig(AppConfig):
    name = "generation_app"
    verbose_name = "Generation (jobs and backends)"

    def ready(self) -> None:
        pass
