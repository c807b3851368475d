from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import ExactDecimalField, decimal_output
from apps.portfolio.presentation import PositionRow


class BalanceOutputSerializer(serializers.Serializer):
    account = serializers.UUIDField(source="account_id", read_only=True)
    exchange = serializers.CharField(source="account.exchange.code", read_only=True)
    mode = serializers.CharField(source="account.mode", read_only=True)
    asset = serializers.CharField(read_only=True)
    free = decimal_output()
    locked = decimal_output(help_text="Held for open orders and as position margin.")
    total = decimal_output()


class AccountBalanceSerializer(serializers.Serializer):
    asset = serializers.CharField(read_only=True)
    free = decimal_output()
    locked = decimal_output()
    total = decimal_output()


class TradingAccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    exchange = serializers.CharField(source="exchange.code", read_only=True)
    mode = serializers.CharField(read_only=True)
    api_connection = serializers.UUIDField(source="api_connection_id", read_only=True, allow_null=True)
    trading_state = serializers.CharField(read_only=True)
    trading_state_reason = serializers.CharField(read_only=True)
    fee_tier = serializers.CharField(read_only=True, help_text="The venue's fee tier the account pays; empty: its custom rates.")
    fees = serializers.SerializerMethodField(help_text="What the account pays: maker and taker rates in spot and in perpetual markets.")
    maker_fee_rate = decimal_output(help_text="Custom maker rate, used when fee_tier is empty.")
    taker_fee_rate = decimal_output(help_text="Custom taker rate, used when fee_tier is empty.")
    slippage_bps = decimal_output()
    balances = AccountBalanceSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field({"type": "object", "example": {"spot": {"maker": "0.001", "taker": "0.001"}, "perpetual": {"maker": "0.0002", "taker": "0.0005"}}})
    def get_fees(self, account: Any) -> dict[str, dict[str, str]]:
        fees = {}
        for market, perpetual in (("spot", False), ("perpetual", True)):
            maker, taker = account.fee_rates(perpetual=perpetual)
            fees[market] = {"maker": f"{maker.normalize():f}", "taker": f"{taker.normalize():f}"}
        return fees


class TradingAccountCreateInputSerializer(serializers.Serializer):
    """A paper account: exchange and balances. A live account: api_connection (a verified one)."""

    exchange = serializers.CharField(max_length=16, required=False, help_text="Paper: SIM, BINANCE, BYBIT or OKX.")
    balances = serializers.DictField(
        child=ExactDecimalField(min_value=Decimal(0)), required=False, help_text='Paper: starting balances, e.g. {"USDT": "10000"}.'
    )
    api_connection = serializers.UUIDField(required=False, help_text="Live: your verified API connection.")
    name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    fee_tier = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="The venue's fee tier, e.g. VIP 1 on Binance; default: its first tier."
    )

    # A live account names only its connection; a paper one needs an exchange (validate() below).
    openapi_request_rules: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {"required": ["api_connection"], "not": {"anyOf": [{"required": ["exchange"]}, {"required": ["balances"]}]}},
            {"required": ["exchange"], "not": {"required": ["api_connection"]}},
        ]
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("api_connection") is not None:
            extra = [name for name in ("exchange", "balances") if name in attrs]
            if extra:
                raise serializers.ValidationError({extra[0]: ["A live account takes its exchange and balances from the connection; send only api_connection."]})
        elif not attrs.get("exchange"):
            raise serializers.ValidationError({"exchange": ["Give exchange and balances for a paper account, or api_connection for a live one."]})
        return attrs


class PositionOutputSerializer(serializers.Serializer):
    """A position with its valuation at the current mark (null when no price is available)."""

    id = serializers.UUIDField(source="position.id", read_only=True)
    account = serializers.UUIDField(source="position.account_id", read_only=True)
    exchange = serializers.CharField(source="position.account.exchange.code", read_only=True)
    mode = serializers.CharField(source="position.account.mode", read_only=True)
    symbol = serializers.CharField(source="position.symbol.symbol", read_only=True)
    market_type = serializers.CharField(source="position.symbol.market_type", read_only=True)
    side = serializers.SerializerMethodField()
    quantity = decimal_output(source="position.quantity", help_text="Signed: long > 0, short < 0.")
    entry_price = decimal_output(source="position.entry_price")
    mark_price = decimal_output(source="mark", allow_null=True)
    unrealized_pnl = decimal_output(allow_null=True)
    roi_percent = decimal_output(allow_null=True)
    notional = decimal_output(allow_null=True)
    liquidation_price = decimal_output(allow_null=True, help_text="Perpetuals, isolated margin.")
    margin_ratio_percent = decimal_output(allow_null=True)
    leverage = serializers.IntegerField(source="position.leverage", read_only=True)
    margin_mode = serializers.CharField(source="position.margin_mode", read_only=True)
    isolated_margin = decimal_output(source="position.isolated_margin")
    realized_pnl = decimal_output(source="position.realized_pnl")
    fees_paid = decimal_output(source="position.fees_paid")
    funding_paid = decimal_output(source="position.funding_paid")
    stop_loss = decimal_output(source="position.stop_loss", allow_null=True)
    take_profit = decimal_output(source="position.take_profit", allow_null=True)
    opened_at = serializers.DateTimeField(source="position.opened_at", read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(source="position.updated_at", read_only=True)

    @extend_schema_field(serializers.ChoiceField(choices=["long", "short", "flat"]))
    def get_side(self, row: PositionRow) -> str:
        return row.side.lower()
