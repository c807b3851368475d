"""The `account` and `mode` query parameters every list of a user's trading rows takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes

from apps.core.errors import ValidationError
from apps.portfolio.enums import AccountMode
from apps.portfolio.models import TradingAccount
from apps.portfolio.selectors import trading_account_get

ACCOUNT_PARAM = OpenApiParameter("account", OpenApiTypes.UUID, description="Only this trading account's rows.")
MODE_PARAM = OpenApiParameter("mode", str, enum=AccountMode.values, description="Only paper or only live accounts.")


def account_param(params: Mapping[str, Any], actor: Any) -> TradingAccount | None:
    """The `account` filter, checked to be the actor's (a 404 naming the parameter otherwise)."""
    raw = params.get("account", "").strip()
    return trading_account_get(actor=actor, account_id=raw) if raw else None


def mode_param(params: Mapping[str, Any]) -> str | None:
    mode = params.get("mode", "").strip().lower()
    if mode and mode not in AccountMode.values:
        raise ValidationError.for_field("mode", f"mode must be paper or live, not {mode!r}.")
    return mode or None
