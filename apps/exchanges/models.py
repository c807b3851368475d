from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.domain.money import round_to_step
from apps.core.models import BaseModel, SoftDeleteModel
from apps.exchanges.domain.capabilities import capabilities_for
from apps.exchanges.enums import ConnectionStatus, ExchangeCode, ExchangeStatus, MarketTypeChoice


class Exchange(BaseModel):
    code = models.CharField(max_length=16, unique=True, choices=ExchangeCode.choices)
    name = models.CharField(max_length=64)
    capability_overrides = models.JSONField(default=dict, blank=True, help_text='Overrides of the built-in capabilities, e.g. {"candles_page_limit": 500}.')
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=ExchangeStatus.choices, default=ExchangeStatus.OPERATIONAL)
    status_detail = models.CharField(max_length=255, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=Q(code__in=ExchangeCode.values), name="exchanges_exchange_code_valid")]

    def __str__(self) -> str:
        return self.name

    @property
    def capabilities(self) -> dict[str, Any]:
        return capabilities_for(self.code, self.capability_overrides)

    @property
    def is_simulated(self) -> bool:
        return self.code == ExchangeCode.SIM


class Symbol(BaseModel):
    """A market on an exchange, with the venue's rounding rules."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="symbols")
    symbol = models.CharField(max_length=48, help_text="ccxt unified symbol, e.g. BTC/USDT or BTC/USDT:USDT")
    venue_symbol = models.CharField(max_length=48, blank=True, help_text="The venue's own id, e.g. BTCUSDT")
    slug = models.SlugField(max_length=64, help_text="URL form: BTC-USDT, BTC-USDT-PERP")
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    market_type = models.CharField(max_length=24, choices=MarketTypeChoice.choices, default=MarketTypeChoice.SPOT)
    tick_size = models.DecimalField(max_digits=30, decimal_places=12)
    lot_size = models.DecimalField(max_digits=30, decimal_places=12)
    min_quantity = models.DecimalField(max_digits=30, decimal_places=12)
    min_notional = models.DecimalField(max_digits=30, decimal_places=12, default=Decimal(0))
    max_leverage = models.PositiveSmallIntegerField(default=1)
    active = models.BooleanField(default=True)
    watched = models.BooleanField(default=False, help_text="Streamed live and backfilled on a schedule.")

    class Meta:
        ordering = ["exchange__code", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="exchanges_symbol_unique_per_exchange"),
            models.UniqueConstraint(fields=["exchange", "slug"], name="exchanges_symbol_slug_unique_per_exchange"),
            models.CheckConstraint(
                condition=Q(tick_size__gt=0) & Q(lot_size__gt=0) & Q(min_quantity__gte=0) & Q(min_notional__gte=0),
                name="exchanges_symbol_rules_positive",
            ),
            models.CheckConstraint(condition=Q(max_leverage__gte=1) & Q(max_leverage__lte=125), name="exchanges_symbol_leverage_range"),
        ]
        indexes = [models.Index(fields=["exchange", "active", "watched"], name="exchanges_symbol_active_idx")]

    def __str__(self) -> str:
        return f"{self.exchange.code}:{self.symbol}"

    @property
    def is_perpetual(self) -> bool:
        return self.market_type == MarketTypeChoice.LINEAR_PERPETUAL

    def round_price(self, price: Decimal, mode: str = "nearest") -> Decimal:
        return round_to_step(price, self.tick_size, mode)

    def round_quantity(self, quantity: Decimal, round_down: bool = True) -> Decimal:
        return round_to_step(quantity, self.lot_size, "down" if round_down else "nearest")


def symbol_slug(symbol: str) -> str:
    """BTC/USDT -> BTC-USDT; BTC/USDT:USDT -> BTC-USDT-PERP."""
    pair, _, settle = symbol.partition(":")
    slug = pair.replace("/", "-")
    return f"{slug}-PERP" if settle else slug


class ApiConnection(BaseModel, SoftDeleteModel):
    """A trader's API credentials for one venue. Secrets are encrypted at rest and never shown again."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_connections")
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="api_connections")
    label = models.CharField(max_length=64)
    credentials_encrypted = models.TextField(editable=False)
    api_key_hint = models.CharField(max_length=16, editable=False, help_text="The last characters of the API key, to recognise it.")
    testnet = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.UNVERIFIED)
    status_detail = models.CharField(max_length=255, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["exchange__code", "label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "label"], condition=Q(deleted_at__isnull=True), name="exchanges_connection_label_unique"),
        ]
        indexes = [models.Index(fields=["owner", "exchange"], name="exchanges_connection_owner_idx")]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange.code})"

    @property
    def is_verified(self) -> bool:
        return self.status == ConnectionStatus.VERIFIED
