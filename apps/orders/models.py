from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.domain.ids import uuid7
from apps.core.models import BaseModel
from apps.exchanges.models import Symbol
from apps.orders.domain.model import OrderStatus
from apps.orders.enums import OPEN_STATUSES, FillLiquidityChoice, OrderSideChoice, OrderSource, OrderStatusChoice, OrderTypeChoice, TimeInForceChoice
from apps.portfolio.models import TradingAccount


class Order(BaseModel):
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="orders")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="+")
    client_order_id = models.CharField(max_length=64)
    venue_order_id = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4, choices=OrderSideChoice.choices)
    order_type = models.CharField(max_length=16, choices=OrderTypeChoice.choices)
    quantity = models.DecimalField(max_digits=38, decimal_places=18)
    price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    stop_price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    time_in_force = models.CharField(max_length=3, choices=TimeInForceChoice.choices, default="GTC")
    post_only = models.BooleanField(default=False)
    reduce_only = models.BooleanField(default=False)
    leverage = models.PositiveSmallIntegerField(default=1)
    margin_mode = models.CharField(max_length=8, default="ISOLATED")
    status = models.CharField(max_length=16, choices=OrderStatusChoice.choices, default=OrderStatus.NEW.value)
    filled_quantity = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    average_price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    fees = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    fee_currency = models.CharField(max_length=16, blank=True)
    locked_amount = models.DecimalField(
        max_digits=38, decimal_places=18, default=Decimal(0), help_text="Balance held for this order, released as it fills or ends."
    )
    locked_asset = models.CharField(max_length=16, blank=True)
    reject_reason = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=8, choices=OrderSource.choices, default=OrderSource.UI)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="attached")
    bot = models.ForeignKey("bots.Bot", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    attached_stop_loss = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    attached_take_profit = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Live orders: handed to the venue.")
    acknowledged_at = models.DateTimeField(null=True, blank=True, help_text="Live orders: the venue confirmed it.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "client_order_id"], name="orders_order_client_id_unique_per_account"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in OrderStatus]), name="orders_order_status_valid"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0) & Q(filled_quantity__gte=0) & Q(filled_quantity__lte=models.F("quantity")), name="orders_order_quantities_valid"
            ),
            models.CheckConstraint(condition=Q(leverage__gte=1) & Q(leverage__lte=125), name="orders_order_leverage_range"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="orders_order_account_idx"),
            models.Index(fields=["account", "symbol"], condition=Q(status__in=OPEN_STATUSES), name="orders_order_open_idx"),
            models.Index(fields=["symbol"], condition=Q(status__in=OPEN_STATUSES), name="orders_order_open_symbol_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol.symbol} {self.order_type} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity


class Fill(models.Model):
    """An execution. Range-partitioned by month on executed_at (see the migration)."""

    pk = models.CompositePrimaryKey("id", "executed_at")
    id = models.UUIDField(default=uuid7, editable=False)
    executed_at = models.DateTimeField(default=timezone.now)
    order = models.ForeignKey(Order, on_delete=models.DO_NOTHING, db_constraint=False, related_name="fills")
    account = models.ForeignKey(TradingAccount, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    symbol = models.ForeignKey(Symbol, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    side = models.CharField(max_length=4, choices=OrderSideChoice.choices)
    price = models.DecimalField(max_digits=38, decimal_places=18)
    quantity = models.DecimalField(max_digits=38, decimal_places=18)
    fee = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    fee_currency = models.CharField(max_length=16)
    liquidity = models.CharField(max_length=11, choices=FillLiquidityChoice.choices)
    realized_pnl = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    venue_trade_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-executed_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} @ {self.price}"

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity

    @property
    def price_on_tick(self) -> Decimal:
        """The price to show, on the symbol's tick (a liquidation fills at the exact liquidation price)."""
        return self.symbol.round_price(self.price)

    @property
    def net_pnl(self) -> Decimal:
        """Realised P&L less the fee: what the fill changed the wallet by (a liquidation: what was lost)."""
        return self.realized_pnl - self.fee


class FundingSettlement(BaseModel):
    """One funding interval of a perpetual as paper positions were settled for it: market data, no user's rows.

    Bots replay it on their own books (`apps.bots.runner`), so a bot's account pays the funding
    its share of the position paid, at the same rate and mark."""

    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, related_name="+")
    funding_time = models.DateTimeField()
    rate = models.DecimalField(max_digits=38, decimal_places=18)
    mark = models.DecimalField(max_digits=38, decimal_places=18)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["symbol", "funding_time"], name="orders_funding_settlement_once")]

    def __str__(self) -> str:
        return f"{self.symbol_id} funding {self.rate} at {self.funding_time}"
