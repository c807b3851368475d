"""Domain audit events: who did what, to what, when and from where.

Range-partitioned by month on `created_at` (see migration 0001); the primary key is
(id, created_at) because PostgreSQL requires the partition key in it.

Each month's events form one hash chain (migrations 0003 and 0004: chained at commit): event `seq` of a month carries the
hash of event `seq - 1` as `prev_hash`, and `AuditChainHead` keeps the month's last position
and hash, so a missing tail shows as well as an edited or removed row. A trigger refuses
UPDATE and DELETE, except erasing an event's personal data (client address, user agent),
which the hash covers only through `personal_digest`.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.domain.ids import uuid7


class ActorKind(models.TextChoices):
    USER = "user", "User"
    API_KEY = "api_key", "API key"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class AuditEvent(models.Model):
    pk = models.CompositePrimaryKey("id", "created_at")
    id = models.UUIDField(default=uuid7, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # DO_NOTHING: events are never rewritten when a user is deleted (the trigger would refuse it).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        help_text="Whose data the event is about; the audit page shows a user their own events.",
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, default=ActorKind.USER)
    actor_ref = models.CharField(max_length=64, blank=True, help_text="Which API key, bot or system process acted.")
    actor_name = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=255)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, null=True, blank=True)
    personal_salt = models.CharField(max_length=32, null=True, blank=True)
    personal_digest = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True, help_text="Correlation id: the request or task that caused the event.")
    # Empty until the event's transaction commits, when the chain trigger fills them (migration 0004).
    seq = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="audit_owner_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created_idx"),
            models.Index(fields=["seq"], name="audit_seq_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["request_id"], name="audit_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.summary}"

    @property
    def correlation_id(self) -> str:
        return self.request_id


class AuditChainHead(models.Model):
    """The last position and hash of one month's chain; kept after the month's partition is dropped."""

    month = models.DateField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} #{self.seq}"


class AuditVerification(models.Model):
    """One run of `audit_verify`: what it checked and the first broken event, if any."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    month = models.CharField(max_length=7, blank=True, help_text="YYYY-MM, or blank for every month.")
    ok = models.BooleanField(default=False)
    events_checked = models.BigIntegerField(default=0)
    months_checked = models.IntegerField(default=0)
    broken_event_id = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'broken'}"
