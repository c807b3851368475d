"""The latest ticker and order book per symbol, kept in Redis by `stream_market`.

Pages and the API read from here; nothing queries the venue per page view. When the
stream is not running (or is stale), readers fall back to one REST call, cached briefly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings

from apps.exchanges.domain.types import BookLevel, OrderBook, Ticker

STALE_AFTER_SECONDS = 15
KEY_TTL_SECONDS = 120
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_CACHE_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


def _key(kind: str, exchange_code: str, slug: str) -> str:
    return f"tp:live:{kind}:{exchange_code}:{slug}"


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def ticker_to_dict(ticker: Ticker) -> dict[str, Any]:
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    change = ticker.change_24h_percent
    return {
        "symbol": ticker.symbol,
        "last": str(ticker.last),
        "bid": text(ticker.bid),
        "ask": text(ticker.ask),
        "open_24h": text(ticker.open_24h),
        "high_24h": text(ticker.high_24h),
        "low_24h": text(ticker.low_24h),
        "base_volume_24h": text(ticker.base_volume_24h),
        "quote_volume_24h": text(ticker.quote_volume_24h),
        "change_24h_percent": None if change is None else str(change.quantize(Decimal("0.01"))),
        "timestamp": ticker.timestamp.isoformat(),
        "mark": text(ticker.mark),
    }


def ticker_from_dict(data: dict[str, Any]) -> Ticker:
    return Ticker(
        symbol=data["symbol"],
        last=Decimal(data["last"]),
        bid=_decimal(data.get("bid")),
        ask=_decimal(data.get("ask")),
        open_24h=_decimal(data.get("open_24h")),
        high_24h=_decimal(data.get("high_24h")),
        low_24h=_decimal(data.get("low_24h")),
        base_volume_24h=_decimal(data.get("base_volume_24h")),
        quote_volume_24h=_decimal(data.get("quote_volume_24h")),
        timestamp=datetime.fromisoformat(data["timestamp"]),
        mark=_decimal(data.get("mark")),
    )


def book_to_dict(book: OrderBook) -> dict[str, Any]:
    return {
        "symbol": book.symbol,
        "bids": [[str(level.price), str(level.quantity)] for level in book.bids],
        "asks": [[str(level.price), str(level.quantity)] for level in book.asks],
        "timestamp": book.timestamp.isoformat(),
    }


def book_from_dict(data: dict[str, Any]) -> OrderBook:
    return OrderBook(
        symbol=data["symbol"],
        bids=tuple(BookLevel(Decimal(p), Decimal(q)) for p, q in data["bids"]),
        asks=tuple(BookLevel(Decimal(p), Decimal(q)) for p, q in data["asks"]),
        timestamp=datetime.fromisoformat(data["timestamp"]),
    )


@dataclass(frozen=True)
class LiveEntry:
    data: dict[str, Any]
    stored_at: float

    @property
    def fresh(self) -> bool:
        return time.time() - self.stored_at < STALE_AFTER_SECONDS


def live_store(kind: str, exchange_code: str, slug: str, data: dict[str, Any], client: redis.Redis | None = None) -> None:
    payload = json.dumps({"data": data, "stored_at": time.time()})
    (client or _redis()).set(_key(kind, exchange_code, slug), payload, ex=KEY_TTL_SECONDS)


def live_read(kind: str, exchange_code: str, slugs: list[str]) -> dict[str, LiveEntry]:
    if not slugs:
        return {}
    values = _redis().mget([_key(kind, exchange_code, slug) for slug in slugs])
    found = {}
    for slug, raw in zip(slugs, values, strict=True):
        if raw:
            decoded = json.loads(raw)
            found[slug] = LiveEntry(data=decoded["data"], stored_at=decoded["stored_at"])
    return found


def now_utc() -> datetime:
    return datetime.now(UTC)
