from __future__ import annotations

from rest_framework import serializers

from apps.exchanges.models import ApiConnection, Exchange, Symbol


class ExchangeOutputSerializer(serializers.ModelSerializer):
    capabilities = serializers.JSONField(read_only=True)

    class Meta:
        model = Exchange
        fields = ["code", "name", "enabled", "status", "status_detail", "status_changed_at", "capabilities"]
        read_only_fields = fields


class SymbolOutputSerializer(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code", read_only=True)  # type: ignore[assignment]

    class Meta:
        model = Symbol
        fields = [
            "id",
            "exchange",
            "symbol",
            "slug",
            "venue_symbol",
            "base",
            "quote",
            "market_type",
            "tick_size",
            "lot_size",
            "min_quantity",
            "min_notional",
            "max_leverage",
            "active",
            "watched",
        ]
        read_only_fields = fields


class ApiConnectionOutputSerializer(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code", read_only=True)  # type: ignore[assignment]

    class Meta:
        model = ApiConnection
        fields = ["id", "exchange", "label", "api_key_hint", "testnet", "status", "status_detail", "last_verified_at", "created_at"]
        read_only_fields = fields


class ApiConnectionCreateInputSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=16)
    label = serializers.CharField(max_length=64)  # type: ignore[assignment]
    api_key = serializers.CharField(max_length=256, write_only=True, trim_whitespace=True)
    secret = serializers.CharField(max_length=512, write_only=True, trim_whitespace=True)
    passphrase = serializers.CharField(max_length=256, write_only=True, required=False, allow_blank=True, default="")
    testnet = serializers.BooleanField(default=False)
    otp = serializers.CharField(
        max_length=12, required=False, allow_blank=True, write_only=True, help_text="A current two-factor code; required when two-factor authentication is on."
    )


class ApiConnectionUpdateInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=64, required=False)  # type: ignore[assignment]
    api_key = serializers.CharField(max_length=256, write_only=True, required=False)
    secret = serializers.CharField(max_length=512, write_only=True, required=False)
    passphrase = serializers.CharField(max_length=256, write_only=True, required=False, allow_blank=True)
    testnet = serializers.BooleanField(required=False)
    otp = serializers.CharField(
        max_length=12, required=False, allow_blank=True, write_only=True, help_text="A current two-factor code; required when two-factor authentication is on."
    )
