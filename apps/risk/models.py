from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class RiskLimits(BaseModel):
    """A trader's limits across every account and bot. Empty means no limit."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_limits")
    max_order_notional = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True, help_text="Largest single order, in the quote currency.")
    max_position_notional = models.DecimalField(
        max_digits=38, decimal_places=18, null=True, blank=True, help_text="Largest position per symbol, in the quote currency."
    )
    max_leverage = models.PositiveSmallIntegerField(null=True, blank=True)
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True, help_text="Realised loss per UTC day that halts new risk.")

    class Meta:
        verbose_name_plural = "risk limits"

    def __str__(self) -> str:
        return f"Risk limits of {self.owner}"
