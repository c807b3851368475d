from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel
from apps.exchanges.domain.fee_tiers import venue_fee_tier
from apps.exchanges.models import ApiConnection, Exchange, Symbol
from apps.portfolio.enums import AccountMode, TradingState


class TradingAccount(BaseModel):
    """Where orders go: one per owner, exchange and mode. Paper and live never mix."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trading_accounts")
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="trading_accounts")
    mode = models.CharField(max_length=8, choices=AccountMode.choices)
    name = models.CharField(max_length=64)
    api_connection = models.ForeignKey(ApiConnection, null=True, blank=True, on_delete=models.PROTECT, related_name="trading_accounts")
    trading_state = models.CharField(max_length=16, choices=TradingState.choices, default=TradingState.ACTIVE)
    trading_state_reason = models.CharField(max_length=255, blank=True)
    fee_tier = models.CharField(
        max_length=32, blank=True, help_text="The venue's fee tier (apps.exchanges.domain.fee_tiers); empty: the custom maker/taker rates below."
    )
    maker_fee_rate = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.0002"))
    taker_fee_rate = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.0005"))
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("2"))

    class Meta:
        ordering = ["mode", "exchange__code"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "exchange", "mode"], name="portfolio_account_one_per_exchange_mode"),
            models.CheckConstraint(condition=Q(mode__in=AccountMode.values), name="portfolio_account_mode_valid"),
            models.CheckConstraint(condition=Q(trading_state__in=TradingState.values), name="portfolio_account_state_valid"),
            models.CheckConstraint(condition=Q(mode="paper") | Q(api_connection__isnull=False), name="portfolio_live_account_has_connection"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange.code}, {self.mode})"

    @property
    def is_paper(self) -> bool:
        return self.mode == AccountMode.PAPER

    def fee_rates(self, *, perpetual: bool) -> tuple[Decimal, Decimal]:
        """(maker, taker) this account pays in a spot or a perpetual market: its venue tier's, or its custom rates."""
        if self.fee_tier:
            return venue_fee_tier(self.exchange.code, self.fee_tier).rates(perpetual=perpetual)
        return self.maker_fee_rate, self.taker_fee_rate


class Balance(BaseModel):
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="balances")
    asset = models.CharField(max_length=16)
    free = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    locked = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))

    class Meta:
        ordering = ["asset"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="portfolio_balance_one_per_asset"),
            models.CheckConstraint(condition=Q(free__gte=0) & Q(locked__gte=0), name="portfolio_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.free}+{self.locked}"

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Position(BaseModel):
    """The net position of an account in a symbol (one row per pair, kept when flat)."""

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="positions")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0), help_text="Signed: long > 0, short < 0.")
    entry_price = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    realized_pnl = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    fees_paid = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    funding_paid = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    leverage = models.PositiveSmallIntegerField(default=1)
    margin_mode = models.CharField(max_length=8, default="ISOLATED")
    isolated_margin = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    stop_loss = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    take_profit = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    last_funding_at = models.DateTimeField(null=True, blank=True)
    margin_call_at = models.DateTimeField(
        null=True, blank=True, help_text="When the margin ratio last crossed the margin-call threshold; cleared once it falls back below."
    )

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="portfolio_position_one_per_symbol"),
            models.CheckConstraint(condition=Q(leverage__gte=1) & Q(leverage__lte=125), name="portfolio_position_leverage_range"),
        ]
        indexes = [
            models.Index(fields=["account"], condition=~Q(quantity=0), name="portfolio_position_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity} @ {self.entry_price}"

    @property
    def is_open(self) -> bool:
        return self.quantity != 0
