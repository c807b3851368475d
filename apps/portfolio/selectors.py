from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFoundError
from apps.portfolio.models import Balance, Position, TradingAccount


def trading_account_list(*, actor: Any, mode: str | None = None) -> QuerySet[TradingAccount]:
    accounts = TradingAccount.objects.filter(owner=actor).select_related("exchange", "api_connection")
    return accounts.filter(mode=mode) if mode else accounts


def trading_account_get(*, actor: Any, account_id: Any) -> TradingAccount:
    try:
        return TradingAccount.objects.select_related("exchange", "api_connection").get(pk=account_id, owner=actor)
    except (TradingAccount.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such trading account.", extra={"fields": {"account": ["No such trading account."]}}) from None
    except Exception as exc:
        from django.core.exceptions import ValidationError as DjangoValidationError

        if isinstance(exc, DjangoValidationError):
            raise NotFoundError("No such trading account.", extra={"fields": {"account": ["No such trading account."]}}) from None
        raise


def balance_list(*, actor: Any, account: TradingAccount | None = None) -> QuerySet[Balance]:
    balances = Balance.objects.filter(account__owner=actor).select_related("account", "account__exchange")
    return balances.filter(account=account) if account else balances


def position_list(*, actor: Any, account: TradingAccount | None = None, mode: str | None = None, open_only: bool = True) -> QuerySet[Position]:
    positions = Position.objects.filter(account__owner=actor).select_related("account", "account__exchange", "symbol", "symbol__exchange")
    if account is not None:
        positions = positions.filter(account=account)
    if mode:
        positions = positions.filter(account__mode=mode)
    if open_only:
        positions = positions.exclude(quantity=0)
    return positions.order_by("-opened_at")


def position_get(*, actor: Any, position_id: Any) -> Position:
    try:
        return Position.objects.select_related("account", "account__exchange", "symbol", "symbol__exchange").get(pk=position_id, account__owner=actor)
    except Exception as exc:
        from django.core.exceptions import ValidationError as DjangoValidationError

        if isinstance(exc, Position.DoesNotExist | DjangoValidationError | ValueError | TypeError):
            raise NotFoundError("No such position.") from None
        raise
