"""/health/ tells the truth about the market stream and answers within 2 s while a dependency hangs."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from apps.core import health
from apps.market.heartbeat import CANDLE_STALE_SECONDS, STREAM_STALE_SECONDS, Heartbeat, VenueBeat, heartbeat_write, stream_health

pytestmark = [pytest.mark.django_db]


def _beat(*, age: float = 1.0, message_age: float | None = 1.0, candle_age: float | None = 20.0, running_for: float = 3600.0) -> Heartbeat:
    now = time.time()
    venue = VenueBeat(last_message=None if message_age is None else now - message_age, last_candle_stored=None if candle_age is None else now - candle_age)
    return Heartbeat(at=now - age, started=now - running_for, venues={"SIM": venue})


def test_a_fresh_heartbeat_of_a_stream_that_stores_candles_is_healthy(client) -> None:
    heartbeat_write(_beat())

    stream = client.get("/health/").json()["components"]["stream"]

    assert stream["ok"] is True and stream["detail"] == "ok"
    assert stream["venues"]["SIM"]["state"] == "receiving"
    assert 0 < stream["venues"]["SIM"]["last_candle_stored_seconds_ago"] < 30


def test_a_paused_or_stopped_stream_is_reported_stale_and_health_is_503(client) -> None:
    heartbeat_write(_beat(age=STREAM_STALE_SECONDS + 5))

    response = client.get("/health/")

    body = response.json()
    assert response.status_code == 503
    assert "stream" in body["failing"]
    assert body["components"]["stream"]["detail"].startswith("stale: last heartbeat")


def test_a_stream_that_receives_but_stores_no_candles_fails_health(client) -> None:
    heartbeat_write(_beat(candle_age=CANDLE_STALE_SECONDS + 10))

    response = client.get("/health/")

    assert response.status_code == 503
    stream = response.json()["components"]["stream"]
    assert stream["detail"] == "candles not stored for SIM"
    assert stream["venues"]["SIM"]["state"] == "not storing candles"


def test_a_silent_venue_is_reported_not_judged() -> None:
    status = stream_health(_beat(message_age=None, candle_age=None))

    assert status.ok is True
    assert status.detail == "ok; no messages from SIM"
    assert status.venues["SIM"]["state"] == "silent"


def test_no_heartbeat_at_all_fails_the_stream_check() -> None:
    from apps.core.redis_clients import quick_redis_client
    from apps.market.heartbeat import HEARTBEAT_KEY

    quick_redis_client(health.settings.REDIS_CACHE_URL).delete(HEARTBEAT_KEY)

    assert health.check_stream().detail == "no heartbeat from stream_market"


def _embedded_postgres_pid() -> int:
    if os.environ.get("DATABASE_URL"):
        pytest.skip("needs the embedded PostgreSQL, to pause it")
    from apps.core.embedded import postgres

    current = postgres.status()
    assert current.pid is not None
    return current.pid


def test_health_answers_503_within_two_seconds_while_postgresql_hangs(client) -> None:
    heartbeat_write(_beat())
    pid = _embedded_postgres_pid()
    os.kill(pid, signal.SIGSTOP)  # the server accepts no new connection: a connect waits
    resume = threading.Timer(4.0, os.kill, args=(pid, signal.SIGCONT))  # whatever happens here, it comes back
    resume.start()
    try:
        started = time.monotonic()
        response = client.get("/health/")
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
        resume.cancel()

    body = response.json()
    assert response.status_code == 503
    assert elapsed < 2.0, elapsed
    assert body["components"]["database"] == {"ok": False, "detail": "no answer within 1.5 s"}
    assert body["components"]["redis"]["ok"] is True
    assert body["components"]["stream"]["ok"] is True


def test_signed_in_pages_show_a_banner_naming_what_is_degraded(client) -> None:
    from apps.accounts.tests.factories import UserFactory

    client.force_login(UserFactory())
    heartbeat_write(_beat(age=STREAM_STALE_SECONDS + 5))
    health._banner = (float("-inf"), [])

    html = re.sub(r"\s+", " ", client.get("/").content.decode())

    assert 'data-testid="degraded-banner"' in html
    assert "Live market data is delayed (stale: last heartbeat" in html

    heartbeat_write(_beat())
    health._banner = (float("-inf"), [])
    assert 'data-testid="degraded-banner"' not in client.get("/").content.decode()
