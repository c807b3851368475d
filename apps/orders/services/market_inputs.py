"""What an order needs to know about its market: the symbol's rules, the fees, the price now."""

from __future__ import annotations

from decimal import Decimal

from apps.core.errors import ServiceUnavailableError
from apps.exchanges.domain.types import OrderBook
from apps.exchanges.models import Symbol
from apps.market.live import book_from_dict
from apps.market.selectors import order_book_dict, ticker_dicts
from apps.orders.domain.model import FeeSchedule, SymbolRules
from apps.orders.errors import OrderErrorCode
from apps.portfolio.models import TradingAccount

BOOK_DEPTH_FOR_MATCHING = 50


def _plain(value: Decimal) -> Decimal:
    """Without the column's trailing zeros (0.010000000000 -> 0.01, 5.000000000000 -> 5), never in E notation."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return normalized if isinstance(exponent, int) and exponent <= 0 else normalized.quantize(Decimal(1))


def symbol_rules(symbol: Symbol) -> SymbolRules:
    """The symbol's rules, with values as the venue writes them: messages say "tick size 0.01", not "0.010000000000"."""
    return SymbolRules(
        symbol=symbol.symbol,
        base=symbol.base,
        quote=symbol.quote,
        tick_size=_plain(symbol.tick_size),
        lot_size=_plain(symbol.lot_size),
        min_quantity=_plain(symbol.min_quantity),
        min_notional=_plain(symbol.min_notional),
        max_leverage=symbol.max_leverage,
        is_perpetual=symbol.is_perpetual,
    )


def fee_schedule(account: TradingAccount, symbol: Symbol) -> FeeSchedule:
    """What the account pays in this symbol's market: its venue tier's rates (spot or perpetual), or its custom ones."""
    maker, taker = account.fee_rates(perpetual=symbol.is_perpetual)
    return FeeSchedule(maker_rate=maker, taker_rate=taker)


def current_book(symbol: Symbol) -> OrderBook:
    """The latest order book (live stream state, or one REST call when the stream is not running)."""
    try:
        return book_from_dict(order_book_dict(symbol=symbol, depth=BOOK_DEPTH_FOR_MATCHING))
    except ServiceUnavailableError:
        raise
    except Exception as exc:  # a venue error here means we cannot price the order
        raise ServiceUnavailableError(f"No market price for {symbol.symbol} right now: {exc}", code=OrderErrorCode.NO_PRICE) from exc


def last_price(symbol: Symbol) -> Decimal:
    tickers = ticker_dicts(exchange_code=symbol.exchange.code, symbols=[symbol])
    data = tickers.get(symbol.slug)
    if not data:
        raise ServiceUnavailableError(f"No market price for {symbol.symbol} right now.", code=OrderErrorCode.NO_PRICE)
    return Decimal(str(data["last"]))
