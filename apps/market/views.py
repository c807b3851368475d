from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.core.errors import ApplicationError, NotFoundError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.selectors import exchange_get, exchange_list, symbol_get, symbol_list
from apps.market.presentation import book_rows, ticker_view
from apps.market.selectors import order_book_dict, ticker_dicts

DEFAULT_EXCHANGE = "SIM"
BOOK_DEPTH = 15


def _exchange_or_404(code: str) -> Exchange:
    # An unknown exchange or symbol in the address is a 404 page, not a server error.
    try:
        return exchange_get(code=code)
    except NotFoundError as exc:
        raise Http404(exc.message) from None


def _symbol_or_404(exchange: Exchange, slug: str) -> Symbol:
    try:
        return symbol_get(exchange=exchange, symbol=slug)
    except NotFoundError as exc:
        raise Http404(exc.message) from None


@login_required
def market_index_view(request: HttpRequest) -> HttpResponse:
    return redirect("market:exchange", exchange_code=DEFAULT_EXCHANGE)


@login_required
def market_exchange_view(request: HttpRequest, exchange_code: str) -> HttpResponse:
    exchange = _exchange_or_404(exchange_code)
    search = request.GET.get("q", "").strip()[:32]
    market_type = request.GET.get("type", "")
    symbols = list(symbol_list(exchange=exchange, market_type=market_type or None, search=search))
    feed_error = ""
    try:
        tickers = ticker_dicts(exchange_code=exchange.code, symbols=symbols)
    except ApplicationError as exc:
        tickers, feed_error = {}, exc.message
    rows = [{"symbol": s, "ticker": ticker_view(tickers.get(s.slug))} for s in symbols]
    context = {
        "active_section": "market",
        "exchange": exchange,
        "exchanges": exchange_list(),
        "rows": rows,
        "search": search,
        "market_type": market_type,
        "feed_error": feed_error,
    }
    template = "market/exchange.html#symbol-table" if request.htmx else "market/exchange.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
def market_symbol_view(request: HttpRequest, exchange_code: str, slug: str) -> HttpResponse:
    exchange = _exchange_or_404(exchange_code)
    symbol = _symbol_or_404(exchange, slug)
    feed_error = ""
    try:
        ticker = ticker_view(ticker_dicts(exchange_code=exchange.code, symbols=[symbol]).get(symbol.slug))
        book = book_rows(order_book_dict(symbol=symbol, depth=BOOK_DEPTH))
    except ApplicationError as exc:
        ticker, book, feed_error = None, None, exc.message
    timeframe = request.GET.get("tf", "1m")
    context = {
        "active_section": "market",
        "exchange": exchange,
        "symbol": symbol,
        "ticker": ticker,
        "book": book,
        "timeframes": TIMEFRAMES,
        "timeframe": timeframe if timeframe in TIMEFRAMES else "1m",
        "feed_error": feed_error,
    }
    return render(request, "market/symbol.html", context)
