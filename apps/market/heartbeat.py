"""The market stream's heartbeat: when `stream_market` last heard from each venue and last stored a candle.

The stream writes it to Redis every few seconds; `/health/` and the page banner read it. The
stream process is stale when its heartbeat is old (stopped, paused, stuck); a venue that still
sends messages but whose candles stopped being stored (the database lost under the stream)
is failing. A venue that sends nothing is reported, not judged: that is the venue's outage,
which its exchange status already shows.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from apps.core.redis_clients import quick_redis_client

HEARTBEAT_KEY = "tp:stream:heartbeat"
HEARTBEAT_SECONDS = 5.0  # how often the stream writes it
HEARTBEAT_TTL_SECONDS = 3600
STREAM_STALE_SECONDS = 30.0  # the process is stale when its heartbeat is older
MESSAGE_STALE_SECONDS = 60.0  # a venue is silent when its last message is older
CANDLE_STALE_SECONDS = 150.0  # a venue that sends is not storing when its last stored candle is older (closes come every 60 s)


@dataclass
class VenueBeat:
    last_message: float | None = None  # epoch seconds
    last_candle_stored: float | None = None


@dataclass
class Heartbeat:
    at: float
    started: float
    venues: dict[str, VenueBeat] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamHealth:
    ok: bool
    detail: str
    venues: dict[str, dict[str, Any]]


def heartbeat_write(beat: Heartbeat) -> None:
    client = quick_redis_client(settings.REDIS_CACHE_URL)
    client.set(HEARTBEAT_KEY, json.dumps(asdict(beat)), ex=HEARTBEAT_TTL_SECONDS)


def heartbeat_read() -> Heartbeat | None:
    raw = quick_redis_client(settings.REDIS_CACHE_URL).get(HEARTBEAT_KEY)
    if raw is None:
        return None
    data = json.loads(raw)
    return Heartbeat(at=data["at"], started=data["started"], venues={code: VenueBeat(**venue) for code, venue in data["venues"].items()})


def _age(then: float | None, now: float) -> float | None:
    return None if then is None else max(now - then, 0.0)


def _venue_report(venue: VenueBeat, *, started: float, now: float) -> dict[str, Any]:
    message_age = _age(venue.last_message, now)
    candle_age = _age(venue.last_candle_stored, now)
    silent = message_age is None or message_age > MESSAGE_STALE_SECONDS
    # Since the last candle stored or, before any, since the stream started.
    storing_age = candle_age if candle_age is not None else now - started
    not_storing = not silent and storing_age > CANDLE_STALE_SECONDS
    return {
        "ok": not not_storing,
        "state": "not storing candles" if not_storing else ("silent" if silent else "receiving"),
        "last_message_seconds_ago": None if message_age is None else round(message_age, 1),
        "last_candle_stored_seconds_ago": None if candle_age is None else round(candle_age, 1),
    }


def stream_health(beat: Heartbeat | None, *, now: float | None = None) -> StreamHealth:
    """Judge the heartbeat: fine while it is fresh and every venue that sends also gets its candles stored."""
    now = time.time() if now is None else now
    if beat is None:
        return StreamHealth(False, "no heartbeat from stream_market", {})
    venues = {code: _venue_report(venue, started=beat.started, now=now) for code, venue in sorted(beat.venues.items())}
    age = now - beat.at
    if age > STREAM_STALE_SECONDS:
        return StreamHealth(False, f"stale: last heartbeat {age:.0f} s ago", venues)
    failing = [code for code, report in venues.items() if not report["ok"]]
    if failing:
        return StreamHealth(False, f"candles not stored for {', '.join(failing)}", venues)
    silent = [code for code, report in venues.items() if report["state"] == "silent"]
    return StreamHealth(True, "ok" if not silent else f"ok; no messages from {', '.join(silent)}", venues)
