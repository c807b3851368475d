from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import ApiKey, User


def api_key_list(*, actor: User, include_revoked: bool = True) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(user=actor).order_by("-created_at")
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys
