from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from rest_framework import serializers

from apps.bots.models import Bot, BotLogEntry, BotStatus
from apps.bots.selectors import bot_summary
from apps.core.api.fields import AMOUNT_DECIMAL_PLACES, decimal_input, decimal_output
from apps.exchanges.domain.timeframes import TIMEFRAMES

# Above 0, at most 100.
PERCENT_PATTERN = r"^(?:[1-9]\d?(?:\.\d{1,18})?|0?\.\d{0,17}[1-9]|100(?:\.0{1,18})?)$"


class BotLimitsSerializer(serializers.Serializer):
    max_position_notional = decimal_input(positive=True, help_text="The bot's own cap on its position value, in the quote currency.")
    max_daily_loss = decimal_input(positive=True, help_text="From the bot's equity at 00:00 UTC; reached, the bot pauses itself.")
    max_drawdown_percent = decimal_input(
        positive=True,
        max_digits=3 + AMOUNT_DECIMAL_PLACES,
        max_value=Decimal(100),
        pattern=PERCENT_PATTERN,
        help_text="From the bot's equity peak, in percent (above 0, at most 100); reached, the bot pauses itself.",
    )


class BotCreateInputSerializer(BotLimitsSerializer):
    name = serializers.CharField(max_length=80)
    account = serializers.UUIDField(help_text="Your trading account (paper or live) the bot trades in.")
    symbol = serializers.CharField(max_length=48, help_text="A symbol of the account's exchange: BTC/USDT, BTC/USDT:USDT or a slug.")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    strategy = serializers.CharField(max_length=64, help_text="A registered strategy (GET /api/v1/strategies/).")
    params = serializers.DictField(required=False, default=dict, help_text="The strategy's parameters; missing ones take their defaults.")


class BotUpdateInputSerializer(serializers.Serializer):
    params = serializers.DictField(
        required=False, help_text="New parameters (the bot must be stopped); missing ones take their defaults. Without it nothing changes."
    )
    openapi_request_rules: ClassVar[dict[str, Any]] = {"additionalProperties": False}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - {"params"}) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Only params can be changed."] for name in unknown})
        return attrs


class BotPerformanceSerializer(serializers.Serializer):
    capital = decimal_output()
    equity = decimal_output(allow_null=True)
    pnl = decimal_output(allow_null=True)
    position = decimal_output()
    entry_price = decimal_output()
    realized = decimal_output(help_text="Realised P&L net of fees.")
    drawdown_percent = decimal_output(allow_null=True)
    open_orders = serializers.IntegerField()


class BotOutputSerializer(serializers.ModelSerializer):
    account = serializers.UUIDField(source="account_id")
    exchange = serializers.CharField(source="account.exchange.code")
    mode = serializers.CharField(source="account.mode")
    symbol = serializers.CharField(source="symbol.symbol")
    status = serializers.ChoiceField(choices=BotStatus.choices)
    max_position_notional = decimal_output(allow_null=True)
    max_daily_loss = decimal_output(allow_null=True)
    max_drawdown_percent = decimal_output(allow_null=True)
    performance = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "account",
            "exchange",
            "mode",
            "symbol",
            "timeframe",
            "strategy",
            "params",
            "max_position_notional",
            "max_daily_loss",
            "max_drawdown_percent",
            "status",
            "error",
            "last_signal",
            "last_processed_open_time",
            "started_at",
            "created_at",
            "performance",
            "actions",
        ]
        read_only_fields = fields

    def get_performance(self, bot: Bot) -> dict[str, Any]:
        return dict(BotPerformanceSerializer(bot_summary(bot)).data)

    def get_actions(self, bot: Bot) -> list[str]:
        return list(bot_summary(bot).actions)


class BotLogEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = BotLogEntry
        fields = ["id", "created_at", "bar_open_time", "level", "message"]
        read_only_fields = fields
