from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.enums import ApiKeyScope, QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, ApiKey, User


class TokenObtainInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The current code from the authenticator app, or a recovery code; required once two-factor authentication is on.",
    )


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access token, valid 15 minutes at most.")
    refresh = serializers.CharField(help_text="Refresh token; each use returns a new one and ends this one.")


class TokenRefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token to end.")


class MeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "time_zone", "quote_currency", "theme", "is_staff", "date_joined"]
        read_only_fields = fields


class PreferencesInputSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    time_zone = serializers.ChoiceField(choices=TIME_ZONE_CHOICES, required=False)
    quote_currency = serializers.ChoiceField(choices=QuoteCurrency.choices, required=False)
    theme = serializers.ChoiceField(choices=Theme.choices, required=False)


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "expires_at", "allowed_networks", "created_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = fields


_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_NETWORK = rf"^(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}(?:/(?:3[0-2]|[12]?\d))?$"


@extend_schema_field({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}, {"pattern": _IPV4_NETWORK}]})
class NetworkField(serializers.CharField):
    """An IP address or a CIDR network (the service parses it; IPv6 networks are accepted but not spelled out in the schema)."""


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices),
        min_length=1,
        max_length=len(ApiKeyScope.values),
        default=[ApiKeyScope.READ.value],
        help_text="read (default), trade, bots.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="A moment in the future after which the key is refused; empty: never."
    )
    allowed_networks = serializers.ListField(
        child=NetworkField(max_length=49),
        max_length=20,
        default=list,
        help_text="IP addresses or CIDR networks the key may be used from; empty: any.",
    )
    otp = serializers.CharField(
        max_length=12, required=False, allow_blank=True, help_text="A current two-factor code; needed for a key with the trade scope when two-factor is on."
    )


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown only in this response; store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]
        read_only_fields = fields
