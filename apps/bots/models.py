from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.domain.ids import uuid7
from apps.core.models import BaseModel, SoftDeleteModel
from apps.exchanges.models import Symbol
from apps.portfolio.models import TradingAccount


class BotStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    PAUSED = "PAUSED", "Paused"
    STOPPED = "STOPPED", "Stopped"
    ERROR = "ERROR", "Error"


class Bot(BaseModel, SoftDeleteModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=80)
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="bots")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=3)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    max_position_notional = models.DecimalField(max_digits=38, decimal_places=8, null=True, blank=True)
    max_daily_loss = models.DecimalField(max_digits=38, decimal_places=8, null=True, blank=True)
    max_drawdown_percent = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=8, choices=BotStatus.choices, default=BotStatus.STOPPED)
    error = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="The strategy's own state, saved after every decision.")
    last_processed_open_time = models.DateTimeField(null=True, blank=True)
    last_signal = models.CharField(max_length=255, blank=True)
    peak_equity = models.DecimalField(max_digits=38, decimal_places=8, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=BotStatus.values), name="bots_bot_status_valid"),
            models.UniqueConstraint(fields=["owner", "name"], condition=Q(deleted_at__isnull=True), name="bots_bot_name_unique"),
        ]
        indexes = [
            models.Index(fields=["symbol", "timeframe"], condition=Q(status="RUNNING", deleted_at__isnull=True), name="bots_running_idx"),
            models.Index(fields=["owner", "-created_at"], name="bots_owner_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class BotLogEntry(models.Model):
    """What a bot decided and why, one line per decision (shown live on the bot page)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="log_entries")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    bar_open_time = models.DateTimeField(null=True, blank=True)
    level = models.CharField(max_length=8, default="info")
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="bots_log_bot_idx")]

    def __str__(self) -> str:
        return self.message


class BotPerformanceSnapshot(models.Model):
    """Equity and position after each processed bar. Range-partitioned by month (see the migration)."""

    pk = models.CompositePrimaryKey("bot_id", "taken_at")
    bot = models.ForeignKey(Bot, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    taken_at = models.DateTimeField()
    equity = models.DecimalField(max_digits=38, decimal_places=8)
    position = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    realized_pnl = models.DecimalField(max_digits=38, decimal_places=8, default=Decimal(0))

    class Meta:
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.taken_at:%Y-%m-%d %H:%M} {self.equity}"
