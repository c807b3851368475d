from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        import apps.accounts.api.schema  # noqa: F401  (registers the OpenAPI security schemes)
        from apps.accounts.models import ApiKey, User

        auditlog.register(User, exclude_fields=["password", "last_login", "updated_at"])
        auditlog.register(ApiKey, exclude_fields=["key_hash", "last_used_at", "updated_at"])
