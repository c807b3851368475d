from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFoundError
from apps.core.rows import rows_select
from apps.core.selectors import get_or_not_found
from apps.exchanges.enums import ExchangeCode, MarketTypeChoice
from apps.exchanges.errors import ExchangeErrorCode, UnknownSymbolError
from apps.exchanges.models import ApiConnection, Exchange, Symbol, symbol_slug


def exchange_list(*, enabled_only: bool = True) -> QuerySet[Exchange]:
    exchanges = Exchange.objects.order_by("code")
    return exchanges.filter(enabled=True) if enabled_only else exchanges


def builtin_exchange(code: str) -> Exchange:
    """One of the venues the platform knows (BINANCE, BYBIT, OKX, SIM); created if its row is missing."""
    exchange, _ = Exchange.objects.get_or_create(code=code, defaults={"name": ExchangeCode(code).label})
    return exchange


def exchange_get(*, code: str) -> Exchange:
    """The enabled exchange with this code (any case), or a 404 naming it."""
    code = code.strip().upper()
    exchange = Exchange.objects.filter(code=code, enabled=True).first()
    if exchange is None and code in ExchangeCode.values and not Exchange.objects.filter(code=code).exists():
        exchange = builtin_exchange(code)  # the built-in venues always exist unless staff disabled them
    if exchange is None:
        known = ", ".join(exchange_list().values_list("code", flat=True))
        raise NotFoundError(
            f"Unknown exchange {code!r}; known: {known}.",
            code=ExchangeErrorCode.UNKNOWN_EXCHANGE,
            extra={"fields": {"exchange": [f"Unknown exchange {code!r}."]}},
        )
    return exchange


def symbol_list(*, exchange: Exchange, active_only: bool = True, market_type: str | None = None, search: str = "") -> QuerySet[Symbol]:
    symbols = Symbol.objects.filter(exchange=exchange).select_related("exchange").order_by("symbol")
    if active_only:
        symbols = symbols.filter(active=True)
    if market_type in MarketTypeChoice.values:
        symbols = symbols.filter(market_type=market_type)
    if search:
        symbols = symbols.filter(symbol__icontains=search.strip())
    return symbols


def symbol_get(*, exchange: Exchange, symbol: str) -> Symbol:
    """By ccxt symbol (BTC/USDT) or slug (BTC-USDT), or a 404 naming the value."""
    value = symbol.strip()
    slug = symbol_slug(value.upper()) if "/" in value else value
    # Read for every order: first the stored (upper-case) slug by key, then any case.
    rows = rows_select(Symbol, where={"exchange_id": exchange.pk, "slug": slug.upper()})
    found = rows[0] if rows else Symbol.objects.filter(exchange=exchange, slug__iexact=slug).first()
    if found is not None:
        found.exchange = exchange
    if found is None:
        raise UnknownSymbolError(
            f"Unknown symbol {symbol!r} on {exchange.code}.",
            extra={"fields": {"symbol": [f"Unknown symbol {symbol!r} on {exchange.code}."]}},
        )
    return found


def watched_symbols() -> QuerySet[Symbol]:
    return Symbol.objects.filter(watched=True, active=True, exchange__enabled=True).select_related("exchange")


def api_connection_list(*, actor: Any) -> QuerySet[ApiConnection]:
    return ApiConnection.objects.filter(owner=actor).select_related("exchange").order_by("exchange__code", "label")


def api_connection_get(*, actor: Any, connection_id: Any) -> ApiConnection:
    return get_or_not_found(ApiConnection.objects.select_related("exchange"), "No such API connection.", pk=connection_id, owner=actor)
