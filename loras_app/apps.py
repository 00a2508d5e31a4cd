from django.apps import AppConfig


class LorasAppConfig(AppConfig):
    name = "loras_app"
    verbose_name = "LoRA catalog"

    def ready(self) -> None:
        # Here, not at the top: models may be imported only once the app registry is ready.
        from backends.catalog import register_catalog_field
        from loras_app.selectors import lora_count

        register_catalog_field("lora_count", lora_count)
