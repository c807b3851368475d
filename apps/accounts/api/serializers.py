from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from apps.accounts.enums import QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, ApiKey, User
from apps.accounts.services import login_failure_register, login_failures_clear, login_throttle_check
from apps.core.errors import ApplicationError


class ThrottledTokenObtainSerializer(TokenObtainPairSerializer):
    """JWT login with the same failure throttling as the sign-in page."""

    default_error_messages = {"no_active_account": "Email or password is wrong."}

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        email = str(attrs.get(self.username_field, "")).strip().lower()
        attrs[self.username_field] = email
        try:
            login_throttle_check(email=email)
        except ApplicationError:
            raise
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            login_failure_register(email=email)
            raise
        login_failures_clear(email=email)
        return data


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
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = fields


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown only in this response; store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]
        read_only_fields = fields
