"""Domain audit events: who did what, to what, when and from where.

Range-partitioned by month on `created_at` (see migration 0001); the primary key is
(id, created_at) because PostgreSQL requires the partition key in it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.domain.ids import uuid7


class AuditEvent(models.Model):
    pk = models.CompositePrimaryKey("id", "created_at")
    id = models.UUIDField(default=uuid7, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        help_text="Whose data the event is about; the audit page shows a user their own events.",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=255)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="audit_owner_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.summary}"
