"""The market stream's line on /health/: its heartbeat is fresh and it stores candles for every venue that sends."""

from __future__ import annotations

from apps.core.health import ComponentStatus
from apps.market.heartbeat import heartbeat_read, stream_health


def check_stream() -> ComponentStatus:
    health = stream_health(heartbeat_read())
    return ComponentStatus("stream", health.ok, health.detail, extra={"venues": health.venues})
