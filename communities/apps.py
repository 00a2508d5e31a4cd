from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "communities"
    verbose_name = "Communities"

    def ready(self) -> None:
        from django.core import checks

        checks.register(check_global_policy)


def check_global_policy(app_configs=None, **kwargs):
    """HUB_POLICY must be a valid policy: a typo would otherwise refuse every request."""
    from django.conf import settings
    from django.core import checks

    from core.policy import PolicyError, clean_policy

    try:
        clean_policy(settings.HUB_POLICY)
    except PolicyError as exc:
        return [checks.Error(f"HUB_POLICY is not a valid policy: {exc}", id="communities.E001")]
    return []
