from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.audit.services import audit_record
from apps.exchanges.crypto import is_encrypted_with_primary, rotate_token
from apps.exchanges.models import ApiConnection


class Command(BaseCommand):
    help = "Re-encrypt every stored API connection with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for connection in ApiConnection.all_objects.select_for_update().order_by("pk"):
                if is_encrypted_with_primary(connection.credentials_encrypted):
                    continue
                connection.credentials_encrypted = rotate_token(connection.credentials_encrypted)
                connection.save(update_fields=["credentials_encrypted", "updated_at"])
                rotated += 1
            audit_record(actor=None, action="encryption.keys_rotated", summary=f"{rotated} API connection(s) re-encrypted with the newest key")
        self.stdout.write(self.style.SUCCESS(f"{rotated} API connection(s) re-encrypted"))
