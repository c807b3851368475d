from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.selectors import get_or_not_found, row_or_not_found
from apps.exchanges.models import Exchange
from apps.portfolio.models import Balance, Position, TradingAccount


def trading_account_list(*, actor: Any, mode: str | None = None) -> QuerySet[TradingAccount]:
    accounts = TradingAccount.objects.filter(owner=actor).select_related("exchange", "api_connection")
    return accounts.filter(mode=mode) if mode else accounts


def trading_account_get(*, actor: Any, account_id: Any) -> TradingAccount:
    """The actor's account with its exchange (read for every order, hence by key without the ORM)."""
    message = "No such trading account."
    account = row_or_not_found(TradingAccount, message, extra={"fields": {"account": [message]}}, where={"id": account_id, "owner_id": actor.pk})
    account.exchange = row_or_not_found(Exchange, message, where={"id": account.exchange_id})
    return account


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
    positions = Position.objects.select_related("account", "account__exchange", "symbol", "symbol__exchange")
    return get_or_not_found(positions, "No such position.", pk=position_id, account__owner=actor)
