from __future__ import annotations

from rest_framework import serializers

from apps.core.api.fields import AsciiIntegerField, ExactDecimalField, decimal_output

MAX_OPEN_POSITIONS = 2_147_483_647
MAX_LEVERAGE = 125


class RiskLimitsOutputSerializer(serializers.Serializer):
    max_order_notional = decimal_output(allow_null=True, help_text="Largest single order, in the quote currency; null is no limit.")
    max_position_notional = decimal_output(allow_null=True, help_text="Largest position per symbol, in the quote currency.")
    max_leverage = serializers.IntegerField(read_only=True, allow_null=True)
    max_open_positions = serializers.IntegerField(read_only=True, allow_null=True)
    max_daily_loss = decimal_output(allow_null=True, help_text="Realised loss per UTC day that blocks new risk.")
    updated_at = serializers.DateTimeField(read_only=True)


class RiskLimitsInputSerializer(serializers.Serializer):
    """Every limit; null removes it. PUT needs all five, PATCH any of them."""

    max_order_notional = ExactDecimalField(positive=True, allow_null=True)
    max_position_notional = ExactDecimalField(positive=True, allow_null=True)
    max_leverage = AsciiIntegerField(allow_null=True, min_value=1, max_value=MAX_LEVERAGE)
    max_open_positions = AsciiIntegerField(allow_null=True, min_value=1, max_value=MAX_OPEN_POSITIONS)
    max_daily_loss = ExactDecimalField(positive=True, allow_null=True)
