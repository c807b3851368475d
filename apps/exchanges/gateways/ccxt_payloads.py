"""ccxt's payloads converted to the platform's values: numbers to `Decimal` (through `str`, so the
venue's shortest decimal form survives), times to aware UTC datetimes, quantities to base units
(OKX swaps trade in contracts: the market's contract size converts them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.core.errors import ValidationError
from apps.exchanges.domain.types import (
    Balance,
    BookLevel,
    Candle,
    MarketInfo,
    MarketType,
    OrderBook,
    Side,
    Ticker,
    Trade,
    VenueOrder,
    VenuePosition,
)
from apps.exchanges.errors import ExchangeError

Raw = dict[str, Any]


def dec(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and value.is_integer():
        return Decimal(int(value))  # 100.0 -> 100, not Decimal("100.0")
    return Decimal(str(value))


def opt_dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else dec(value)


def utc(milliseconds: Any) -> datetime:
    if milliseconds is None:
        return datetime.now(tz=UTC)
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)


def milliseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValidationError.for_field("since", "since must be timezone-aware")
    return int(moment.timestamp() * 1000)


def contract_size(market: Raw) -> Decimal:
    """Base units per contract: OKX swaps trade in contracts, the other venues in base units."""
    size = market.get("contractSize")
    return dec(size) if market.get("contract") and size else Decimal(1)


def market_type(market: Raw) -> MarketType | None:
    if market.get("spot"):
        return MarketType.SPOT
    if market.get("swap") and market.get("linear") and market.get("settle") == "USDT":
        return MarketType.LINEAR_PERPETUAL
    return None


def market_info(market: Raw, market_type: MarketType, default_perp_leverage: int) -> MarketInfo:
    precision, limits = market.get("precision") or {}, market.get("limits") or {}
    size = contract_size(market)
    lot = dec(precision["amount"]) * size
    min_quantity = opt_dec((limits.get("amount") or {}).get("min"))
    max_leverage = (limits.get("leverage") or {}).get("max")
    if market_type is MarketType.SPOT:
        leverage = 1  # the platform trades spot without margin
    else:
        leverage = int(max_leverage) if max_leverage else default_perp_leverage
    return MarketInfo(
        symbol=market["symbol"],
        venue_symbol=market["id"],
        base=market["base"],
        quote=market["quote"],
        market_type=market_type,
        tick_size=dec(precision["price"]),
        lot_size=lot,
        min_quantity=min_quantity * size if min_quantity is not None else lot,
        min_notional=opt_dec((limits.get("cost") or {}).get("min")) or Decimal(0),
        max_leverage=leverage,
        active=bool(market.get("active")),
    )


def candle(row: list[Any]) -> Candle:
    open_time, open_, high, low, close, volume = row[:6]
    return Candle(
        open_time=utc(open_time),
        open=dec(open_),
        high=dec(high),
        low=dec(low),
        close=dec(close),
        volume=dec(volume if volume is not None else 0),  # ccxt already reads OKX swaps' volume in base units
    )


def ticker(raw: Raw) -> Ticker:
    last = raw.get("last") if raw.get("last") is not None else raw.get("close")
    if last is None:
        raise ExchangeError(f"ticker for {raw.get('symbol')} has no last price")
    return Ticker(
        symbol=raw["symbol"],
        last=dec(last),
        bid=opt_dec(raw.get("bid")),
        ask=opt_dec(raw.get("ask")),
        open_24h=opt_dec(raw.get("open")),
        high_24h=opt_dec(raw.get("high")),
        low_24h=opt_dec(raw.get("low")),
        base_volume_24h=opt_dec(raw.get("baseVolume")),
        quote_volume_24h=opt_dec(raw.get("quoteVolume")),
        timestamp=utc(raw.get("timestamp")),
    )


def levels(rows: list[list[Any]], depth: int) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(price=dec(row[0]), quantity=dec(row[1])) for row in rows[:depth])


def order_book(raw: Raw, symbol: str, depth: int) -> OrderBook:
    return OrderBook(
        symbol=raw.get("symbol") or symbol,
        bids=levels(raw.get("bids") or [], depth),
        asks=levels(raw.get("asks") or [], depth),
        timestamp=utc(raw.get("timestamp")),
    )


def trade(raw: Raw, size: Decimal) -> Trade:
    return Trade(
        symbol=raw["symbol"],
        trade_id=str(raw["id"]),
        price=dec(raw["price"]),
        quantity=dec(raw["amount"]) * size,
        side=Side(raw["side"]),
        timestamp=utc(raw.get("timestamp")),
    )


def order_type(raw: Raw) -> str:
    unified = str(raw.get("type") or "limit")
    if raw.get("takeProfitPrice") is not None:
        return "take_profit"
    if raw.get("triggerPrice") is not None or raw.get("stopLossPrice") is not None:
        return "stop_market" if unified == "market" else "stop_limit"
    return unified


def venue_order(raw: Raw, size: Decimal) -> VenueOrder:
    info = raw.get("info") or {}
    fee = raw.get("fee") or {}
    price = opt_dec(raw.get("price"))
    stop = raw.get("triggerPrice") or raw.get("stopLossPrice") or raw.get("takeProfitPrice")
    return VenueOrder(
        venue_order_id=str(raw["id"]),
        # Binance's cancel reply puts a fresh cancel id in clientOrderId and ours in origClientOrderId.
        client_order_id=info.get("origClientOrderId") or raw.get("clientOrderId"),
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        order_type=order_type(raw),
        status=str(raw.get("status") or "open"),
        price=price if price else None,
        stop_price=opt_dec(stop),
        quantity=dec(raw.get("amount") or 0) * size,
        filled=dec(raw.get("filled") or 0) * size,
        average_price=opt_dec(raw.get("average")),
        fee=opt_dec(fee.get("cost")),
        fee_currency=fee.get("currency"),
        timestamp=utc(raw.get("timestamp") or raw.get("lastUpdateTimestamp")),
    )


def streamed_order(raw: Raw, size: Decimal) -> VenueOrder:
    """An order from the user-data stream. ccxt keeps the first event's fee on later events of the
    same order, so the fee is rebuilt from this event's own trade: its commission per unit
    (`n` / `l`) times everything filled so far, the rate the ledger applies to each new fill."""
    order = venue_order(raw, size)
    info = raw.get("info") or {}
    commission, last_quantity = opt_dec(info.get("n")), opt_dec(info.get("l"))
    if commission is None or not last_quantity or order.filled <= 0:
        return order
    return replace(order, fee=commission / (last_quantity * size) * order.filled, fee_currency=info.get("N") or order.fee_currency)


def liquidation_order(raw: Raw, size: Decimal) -> VenueOrder:
    """ccxt's liquidation structure as the filled order that closed the position."""
    info = raw.get("info") or {}
    quantity = dec(raw.get("contracts") or 0) * size
    timestamp = raw.get("timestamp")
    venue_order_id = str(info.get("orderId") or info.get("ordId") or info.get("orderID") or f"{raw['symbol']}-{timestamp}")
    return VenueOrder(
        venue_order_id=venue_order_id,
        client_order_id=info.get("clientOrderId") or f"autoclose-{venue_order_id}",
        symbol=raw["symbol"],
        side=Side(str(raw.get("side") or info.get("side") or "").lower()),
        order_type="liquidation",
        status="closed",
        price=opt_dec(raw.get("price")),
        stop_price=None,
        quantity=quantity,
        filled=quantity,
        average_price=opt_dec(raw.get("price")),
        fee=None,
        fee_currency=None,
        timestamp=utc(timestamp),
    )


def balances(raw: Raw) -> list[Balance]:
    free, used = raw.get("free") or {}, raw.get("used") or {}
    balances = [Balance(asset=asset, free=dec(free.get(asset) or 0), locked=dec(used.get(asset) or 0)) for asset in raw.get("total") or {}]
    return [balance for balance in balances if balance.total != 0]


def position(raw: Raw) -> VenuePosition:
    quantity = dec(raw.get("contracts") or 0) * dec(raw.get("contractSize") or 1)
    leverage = raw.get("leverage")
    return VenuePosition(
        symbol=raw["symbol"],
        quantity=-quantity if raw.get("side") == "short" else quantity,
        entry_price=dec(raw.get("entryPrice") or 0),
        mark_price=opt_dec(raw.get("markPrice")),
        leverage=int(leverage) if leverage else None,
        margin_mode=raw.get("marginMode"),
        liquidation_price=opt_dec(raw.get("liquidationPrice")),
        unrealized_pnl=opt_dec(raw.get("unrealizedPnl")),
    )
