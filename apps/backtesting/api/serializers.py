from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from apps.backtesting.models import Backtest, FillMode, RunStatus
from apps.core.api.fields import AMOUNT_WHOLE_DIGITS, ExactDecimalField, decimal_output
from apps.exchanges.domain.timeframes import TIMEFRAMES

# 0 to 1000 basis points, three decimals at most.
SLIPPAGE_PATTERN = r"^(?:\d{1,3}(?:\.\d{1,3})?|\.\d{1,3}|1000(?:\.0{1,3})?)$"
SUMMARY_KEYS = ("total_return", "annualised_return", "sharpe", "max_drawdown", "trades", "final_equity")


def _decimal(default: str, max_digits: int, decimal_places: int, help_text: str, **bounds: Any) -> ExactDecimalField:
    return ExactDecimalField(max_digits=max_digits, decimal_places=decimal_places, required=False, default=Decimal(default), help_text=help_text, **bounds)


class BacktestCreateInputSerializer(serializers.Serializer):
    strategy = serializers.CharField(max_length=64, help_text="A name from GET /api/v1/strategies/.")
    params = serializers.DictField(required=False, default=dict, help_text="The strategy's parameters (its JSON schema); missing ones take their defaults.")
    exchange = serializers.CharField(max_length=16, default="SIM", help_text="SIM, BINANCE, BYBIT or OKX.")
    symbol = serializers.CharField(max_length=32, help_text="BTC/USDT, BTC/USDT:USDT or a slug (BTC-USDT-PERP).")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1m")
    start = serializers.DateTimeField(required=False, help_text="ISO 8601; default: 7 days before the end.")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive; default: now.")
    initial_capital = _decimal("10000", AMOUNT_WHOLE_DIGITS + 8, 8, "In the quote currency.", positive=True)
    maker_fee = _decimal("0.001", 10, 8, "A fraction of the notional: 0.001 is 0.1 %; negative is a rebate.")
    taker_fee = _decimal("0.001", 10, 8, "A fraction of the notional.")
    slippage_bps = _decimal(
        "0",
        7,
        3,
        "Basis points added to every taker fill's price against you (0-1000).",
        min_value=Decimal(0),
        max_value=Decimal(1000),
        pattern=SLIPPAGE_PATTERN,
    )
    fill_mode = serializers.ChoiceField(
        choices=FillMode.choices, default=FillMode.NEXT_OPEN, help_text="Market orders fill at the next bar's open or the signal bar's close."
    )
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class BacktestOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    strategy = serializers.CharField(read_only=True)
    params = serializers.DictField(read_only=True)
    exchange = serializers.CharField(source="symbol.exchange.code", read_only=True, allow_null=True)
    symbol = serializers.CharField(source="symbol.symbol", read_only=True, allow_null=True)
    data_source = serializers.CharField(read_only=True)
    timeframe = serializers.CharField(read_only=True)
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    initial_capital = decimal_output()
    maker_fee = decimal_output()
    taker_fee = decimal_output()
    slippage_bps = decimal_output()
    fill_mode = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="0-100.")
    error = serializers.CharField(read_only=True, help_text="Why the run failed.")
    bars = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    summary = serializers.SerializerMethodField(help_text="The headline metrics once done (null before).")
    links = serializers.SerializerMethodField()

    def get_summary(self, backtest: Backtest) -> dict[str, Any] | None:
        if backtest.status != RunStatus.DONE:
            return None
        return {key: backtest.metrics.get(key) for key in SUMMARY_KEYS}

    def get_links(self, backtest: Backtest) -> dict[str, str]:
        return {
            "self": reverse("api-backtest-detail", args=[backtest.pk]),
            "trades_csv": reverse("api-backtest-trades-csv", args=[backtest.pk]),
            "equity_csv": reverse("api-backtest-equity-csv", args=[backtest.pk]),
            "page": reverse("backtesting:detail", args=[backtest.pk]),
        }


class BacktestDetailOutputSerializer(BacktestOutputSerializer):
    metrics = serializers.SerializerMethodField(help_text="Every metric once done (null before), with the conventions used.")

    def get_metrics(self, backtest: Backtest) -> dict[str, Any] | None:
        return backtest.metrics if backtest.status == RunStatus.DONE else None
