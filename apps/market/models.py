"""Stored market data. Both tables are partitioned by time (see the migrations).

`Candle` is LIST-partitioned by timeframe, each timeframe RANGE-partitioned by open
time, so each timeframe keeps its own retention. Primary keys include the partition keys.
"""

from __future__ import annotations

from django.db import models

from apps.exchanges.models import Symbol


class Candle(models.Model):
    pk = models.CompositePrimaryKey("symbol_id", "timeframe", "open_time")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    timeframe = models.CharField(max_length=3)
    open_time = models.DateTimeField()
    open = models.DecimalField(max_digits=30, decimal_places=12)
    high = models.DecimalField(max_digits=30, decimal_places=12)
    low = models.DecimalField(max_digits=30, decimal_places=12)
    close = models.DecimalField(max_digits=30, decimal_places=12)
    volume = models.DecimalField(max_digits=38, decimal_places=12)

    class Meta:
        managed = True
        ordering = ["open_time"]

    def __str__(self) -> str:
        return f"{self.symbol_id} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class OrderBookSnapshot(models.Model):
    pk = models.CompositePrimaryKey("symbol_id", "captured_at")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    captured_at = models.DateTimeField()
    bids = models.JSONField(help_text="[[price, quantity], ...] best first, as strings")
    asks = models.JSONField(help_text="[[price, quantity], ...] best first, as strings")
    mid = models.DecimalField(max_digits=30, decimal_places=12, null=True)

    class Meta:
        ordering = ["-captured_at"]

    def __str__(self) -> str:
        return f"{self.symbol_id} book at {self.captured_at:%Y-%m-%d %H:%M:%S}"
