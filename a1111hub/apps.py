from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "a1111hub"
    verbose_name = "Hub (API keys)"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from a1111hub.auth import forget_cached_keys
        from a1111hub.models import ApiKey

        post_save.connect(forget_cached_keys, sender=ApiKey, dispatch_uid="forget-keys-save")
        post_delete.connect(forget_cached_keys, sender=ApiKey, dispatch_uid="forget-keys-delete")
