from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "API keys"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from core import strict
        from core.auth import forget_cached_keys
        from core.models import ApiKey

        strict.install()  # JSON bodies hold to their declared types

        post_save.connect(forget_cached_keys, sender=ApiKey, dispatch_uid="forget-keys-save")
        post_delete.connect(forget_cached_keys, sender=ApiKey, dispatch_uid="forget-keys-delete")
