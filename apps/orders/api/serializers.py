from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from apps.core.api.fields import AsciiIntegerField, UpperChoiceField, decimal_input, decimal_output, identifier_field
from apps.orders.enums import OrderSideChoice, OrderTypeChoice, TimeInForceChoice
from apps.orders.services.placement import CLIENT_ORDER_ID_MAX


class OrderCreateInputSerializer(serializers.Serializer):
    account = serializers.UUIDField(help_text="The trading account (paper or live) that places the order.")
    symbol = serializers.CharField(max_length=32, help_text="BTC/USDT, BTC/USDT:USDT or a slug such as BTC-USDT-PERP.")
    side = UpperChoiceField(choices=OrderSideChoice.choices)
    order_type = UpperChoiceField(choices=OrderTypeChoice.choices)
    quantity = decimal_input(positive=True, help_text="In the base currency. Give this or quote_amount.")
    quote_amount = decimal_input(positive=True, help_text="In the quote currency, converted at the limit (or current) price and rounded down to the lot.")
    price = decimal_input(positive=True, help_text="LIMIT and STOP_LIMIT only.")
    stop_price = decimal_input(positive=True, help_text="The trigger of STOP_MARKET, STOP_LIMIT and TAKE_PROFIT orders.")
    time_in_force = UpperChoiceField(choices=TimeInForceChoice.choices, default="GTC")
    post_only = serializers.BooleanField(default=False)
    reduce_only = serializers.BooleanField(default=False)
    leverage = AsciiIntegerField(min_value=1, max_value=125, default=1)
    margin_mode = UpperChoiceField(choices=[("ISOLATED", "Isolated"), ("CROSS", "Cross")], default="ISOLATED")
    stop_loss = decimal_input(positive=True, help_text="Becomes the position's stop-loss once the order fills.")
    take_profit = decimal_input(positive=True, help_text="Becomes the position's take-profit once the order fills.")
    client_order_id = identifier_field(
        max_length=CLIENT_ORDER_ID_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Your id for the order (1-{CLIENT_ORDER_ID_MAX} ASCII letters, digits, '-' or '_'); one is made when you send none. "
        "Sending the same id again returns the first order.",
    )

    # Exactly one of quantity and quote_amount is given (the other absent or null; validate() below).
    openapi_request_rules: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {"required": ["quantity"], "properties": {"quantity": {"type": "string"}, "quote_amount": {"not": {"type": "string"}}}},
            {"required": ["quote_amount"], "properties": {"quote_amount": {"type": "string"}, "quantity": {"not": {"type": "string"}}}},
        ]
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("quantity") is not None and attrs.get("quote_amount") is not None:
            raise serializers.ValidationError({"quote_amount": ["Give either quantity or quote_amount, not both."]})
        if attrs.get("quantity") is None and attrs.get("quote_amount") is None:
            raise serializers.ValidationError({"quantity": ["Give a quantity, or an amount in the quote currency (quote_amount)."]})
        return attrs


class OrderOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    account = serializers.UUIDField(source="account_id", read_only=True)
    exchange = serializers.CharField(source="symbol.exchange.code", read_only=True)
    symbol = serializers.CharField(source="symbol.symbol", read_only=True)
    client_order_id = serializers.CharField(read_only=True)
    venue_order_id = serializers.CharField(read_only=True)
    side = serializers.CharField(read_only=True)
    order_type = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    quantity = decimal_output()
    filled_quantity = decimal_output()
    remaining_quantity = decimal_output()
    price = decimal_output(allow_null=True)
    stop_price = decimal_output(allow_null=True)
    average_price = decimal_output(allow_null=True)
    fees = decimal_output()
    fee_currency = serializers.CharField(read_only=True)
    held_amount = decimal_output(source="locked_amount", help_text="Balance still held for the order.")
    held_asset = serializers.CharField(source="locked_asset", read_only=True)
    time_in_force = serializers.CharField(read_only=True)
    post_only = serializers.BooleanField(read_only=True)
    reduce_only = serializers.BooleanField(read_only=True)
    leverage = serializers.IntegerField(read_only=True)
    margin_mode = serializers.CharField(read_only=True)
    stop_loss = decimal_output(source="attached_stop_loss", allow_null=True)
    take_profit = decimal_output(source="attached_take_profit", allow_null=True)
    reason = serializers.CharField(source="reject_reason", read_only=True, help_text="Why the order was rejected, expired or canceled.")
    source = serializers.CharField(read_only=True)  # type: ignore[assignment]
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)


class FillOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    order = serializers.UUIDField(source="order_id", read_only=True)
    account = serializers.UUIDField(source="account_id", read_only=True)
    symbol = serializers.CharField(source="symbol.symbol", read_only=True)
    side = serializers.CharField(read_only=True)
    price = decimal_output()
    quantity = decimal_output()
    fee = decimal_output()
    fee_currency = serializers.CharField(read_only=True)
    liquidity = serializers.CharField(read_only=True)
    realized_pnl = decimal_output()
    executed_at = serializers.DateTimeField(read_only=True)


class PositionCloseInputSerializer(serializers.Serializer):
    order_type = UpperChoiceField(choices=[("MARKET", "Market"), ("LIMIT", "Limit")], required=False, help_text="LIMIT when a price is given, else MARKET.")
    price = decimal_input(positive=True, allow_null=False, help_text="The limit price of a LIMIT close: required for LIMIT, refused for MARKET.")
    # A price makes it a LIMIT close, none a MARKET one (validate() below).
    openapi_request_rules: ClassVar[dict[str, Any]] = {
        "oneOf": [
            # patterns, not enums: the schema's enum naming would turn an enum here into the field's own
            {"required": ["price"], "properties": {"order_type": {"pattern": "^LIMIT$"}}},
            {"not": {"required": ["price"]}, "properties": {"order_type": {"pattern": "^MARKET$"}}},
        ]
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        price = attrs.get("price")
        order_type = attrs.get("order_type") or ("LIMIT" if price is not None else "MARKET")
        if order_type == "MARKET" and price is not None:
            raise serializers.ValidationError({"price": ["A market close takes no price; use order_type LIMIT to close at a price."]})
        if order_type == "LIMIT" and price is None:
            raise serializers.ValidationError({"price": ["A limit close needs a price."]})
        return {"order_type": order_type, "price": price}
