"""Backfilling candles from SIM: planning, paging, resuming; the management command; 1m retention."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit.models import AuditEvent
from apps.core.errors import ValidationError
from apps.core.partitions import drop_expired_partitions, ensure_partitions_cover, partitions_of, policy_for
from apps.exchanges.domain.timeframes import align_open_time
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.tests.factories import ExchangeFactory
from apps.market.models import Candle
from apps.market.services.candles import candles_upsert
from apps.market.services.demo import sim_symbols_prepare
from apps.market.services.ingestion import ingest_candles, plan_ingestion
from apps.market.tests.factories import candle_run

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def btc() -> Symbol:
    return next(s for s in sim_symbols_prepare() if s.symbol == "BTC/USDT")


def _window(minutes: int) -> tuple[datetime, datetime]:
    """`minutes` closed minutes well in the past (no minute closes while the test runs)."""
    until = align_open_time(datetime.now(UTC), "1m") - 30 * MINUTE
    return until - (minutes - 1) * MINUTE, until


def _stored(symbol: Symbol, timeframe: str = "1m") -> list[datetime]:
    return list(Candle.objects.filter(symbol=symbol, timeframe=timeframe).order_by("open_time").values_list("open_time", flat=True))


def _minutes(first: datetime, last: datetime) -> list[datetime]:
    return [first + MINUTE * i for i in range(int((last - first) / MINUTE) + 1)]


# Planning and fetching -----------------------------------------------------------------


def test_a_backfill_fetches_the_range_page_by_page_and_a_second_run_fetches_nothing(btc) -> None:
    Exchange.objects.filter(code="SIM").update(capability_overrides={"candles_page_limit": 50})
    btc.exchange.refresh_from_db()
    since, until = _window(180)
    progress: list[tuple[int, datetime]] = []

    plan = plan_ingestion(symbol=btc, timeframe="1m", since=since, until=until)
    result = ingest_candles(plan=plan, progress=lambda count, last: progress.append((count, last)))

    assert (plan.start, plan.until, plan.expected) == (since, until, 180)
    assert (result.fetched, result.written, result.first, result.last) == (180, 180, since, until)
    assert _stored(btc) == _minutes(since, until)
    assert [count for count, _ in progress] == [50, 50, 50, 30]
    assert progress[-1][1] == until
    assert AuditEvent.objects.filter(action="candles.ingested", summary__contains="180 candles fetched, 180 written").count() == 1

    again = plan_ingestion(symbol=btc, timeframe="1m", since=since, until=until)
    rerun = ingest_candles(plan=again)

    assert again.start == until + MINUTE and again.expected == 0
    assert (rerun.fetched, rerun.written) == (0, 0)
    assert len(_stored(btc)) == 180
    assert AuditEvent.objects.filter(action="candles.ingested").count() == 1, "an empty run is not audited"


def test_an_interrupted_backfill_resumes_after_the_last_stored_candle(btc) -> None:
    since, until = _window(120)
    interrupted_at = since + 44 * MINUTE
    ingest_candles(plan=plan_ingestion(symbol=btc, timeframe="1m", since=since, until=interrupted_at))
    assert _stored(btc) == _minutes(since, interrupted_at)

    plan = plan_ingestion(symbol=btc, timeframe="1m", since=since, until=until)
    result = ingest_candles(plan=plan)

    assert (plan.start, plan.expected) == (interrupted_at + MINUTE, 75)
    assert (result.fetched, result.written, result.first) == (75, 75, interrupted_at + MINUTE)
    assert _stored(btc) == _minutes(since, until)


def test_an_unaligned_since_starts_at_the_candle_containing_it_and_until_defaults_to_the_newest_closed(btc) -> None:
    now = datetime.now(UTC).replace(second=30, microsecond=0)

    plan = plan_ingestion(symbol=btc, timeframe="5m", since=now - timedelta(hours=2, seconds=90), now=now)

    assert plan.start == align_open_time(now - timedelta(hours=2, seconds=90), "5m")
    assert plan.until == align_open_time(now, "5m") - timedelta(minutes=5)
    assert plan.expected == int((plan.until - plan.start) / timedelta(minutes=5)) + 1


def test_since_after_until_is_refused_naming_both(btc) -> None:
    since, until = _window(10)

    with pytest.raises(ValidationError) as caught:
        plan_ingestion(symbol=btc, timeframe="1m", since=until + timedelta(hours=1), until=until)

    assert "--since" in caught.value.message and "is after --until" in caught.value.message
    assert "since" in caught.value.extra["fields"]


def test_a_start_in_the_future_is_refused(btc) -> None:
    with pytest.raises(ValidationError, match="is after --until"):
        plan_ingestion(symbol=btc, timeframe="1h", since=datetime.now(UTC) + timedelta(days=1))


def test_a_1m_start_before_the_retention_horizon_is_refused_but_5m_may_go_further_back(btc) -> None:
    now = datetime.now(UTC)
    assert settings.CANDLE_RETENTION_DAYS["1m"] == 30

    with pytest.raises(ValidationError) as caught:
        plan_ingestion(symbol=btc, timeframe="1m", since=now - timedelta(days=31), now=now)

    assert "1m candles are kept 30 days" in caught.value.message and "CANDLE_RETENTION_DAYS" in caught.value.message
    assert plan_ingestion(symbol=btc, timeframe="1m", since=now - timedelta(days=29), now=now).expected > 0
    assert plan_ingestion(symbol=btc, timeframe="5m", since=now - timedelta(days=31), now=now).expected > 0


def test_a_timeframe_the_venue_lacks_is_refused(btc) -> None:
    with pytest.raises(ValidationError, match="SIM has no '2m' candles; use one of 1m, 5m, 15m, 1h, 4h, 1d"):
        plan_ingestion(symbol=btc, timeframe="2m", since=datetime.now(UTC) - timedelta(hours=1))


# The management command ----------------------------------------------------------------


def _since_two_days_ago() -> str:
    return (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


def test_the_command_backfills_and_reports_success_then_says_it_is_up_to_date(btc) -> None:
    out = StringIO()
    args = ["--exchange", "SIM", "--symbol", "BTC/USDT", "--timeframe", "5m", "--since", _since_two_days_ago(), "--no-progress"]

    call_command("ingest_candles", *args, stdout=out, stderr=StringIO())

    stored = _stored(btc, "5m")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("SIM:BTC/USDT 5m: fetching from ")
    assert lines[-1] == f"{len(stored)} candles fetched, {len(stored)} new or changed"
    assert 570 <= len(stored) <= 577 and stored == _minutes_of(stored[0], stored[-1], 5)

    out = StringIO()
    call_command("ingest_candles", *args, stdout=out, stderr=StringIO())

    assert "already up to date" in out.getvalue() or "candles fetched" in out.getvalue()  # a new 5m candle may have closed
    assert len(_stored(btc, "5m")) <= len(stored) + 1


def _minutes_of(first: datetime, last: datetime, step: int) -> list[datetime]:
    return [first + timedelta(minutes=step * i) for i in range(int((last - first) / timedelta(minutes=step)) + 1)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"--exchange": "KRAKEN"}, "Unknown exchange 'KRAKEN'; known: BINANCE, BYBIT, OKX, SIM."),
        ({"--symbol": "XRP/JPY"}, "Unknown symbol 'XRP/JPY' on SIM."),
        ({"--timeframe": "2m"}, "SIM has no '2m' candles; use one of 1m, 5m, 15m, 1h, 4h, 1d."),
        ({"--since": "2026-13-45"}, "since '2026-13-45' is not a date/time (use ISO 8601 or epoch milliseconds, up to the year 9999)."),
        ({"--until": "2020-01-01"}, "is after --until 2020-01-01 00:00"),
    ],
)
def test_the_command_refuses_bad_values_with_a_one_line_message(btc, overrides, message) -> None:
    options = {"--exchange": "SIM", "--symbol": "BTC/USDT", "--timeframe": "5m", "--since": _since_two_days_ago(), **overrides}

    with pytest.raises(CommandError) as caught:
        call_command("ingest_candles", *[part for pair in options.items() for part in pair], "--no-progress", stdout=StringIO())

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.returncode != 0
    assert not _stored(btc, "5m")


@pytest.mark.django_db(transaction=True)
def test_the_command_line_exits_0_on_success_and_non_zero_with_one_line_on_bad_input() -> None:
    ExchangeFactory(code="SIM")  # transactional tests flush the seeded exchanges
    sim_symbols_prepare()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test", "DATABASE_NAME": connection.settings_dict["NAME"]}
    base = [sys.executable, "manage.py", "ingest_candles", "--exchange", "SIM", "--symbol", "BTC-USDT", "--since", _since_two_days_ago(), "--no-progress"]

    good, bad = (
        subprocess.Popen([*base, "--timeframe", timeframe], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for timeframe in ("1h", "2m")
    )
    good_out, good_err = good.communicate(timeout=60)
    _, bad_err = bad.communicate(timeout=60)

    assert good.returncode == 0, good_err
    assert good_out.splitlines()[-1].endswith("new or changed")
    assert bad.returncode != 0
    assert bad_err.strip().splitlines() == ["CommandError: SIM has no '2m' candles; use one of 1m, 5m, 15m, 1h, 4h, 1d."]


# Retention -----------------------------------------------------------------------------


def test_1m_partitions_older_than_30_days_are_dropped_and_recent_ones_kept(btc) -> None:
    now = datetime.now(UTC)
    old_day = (now - timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    recent_day = (now - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    candles_upsert(symbol=btc, timeframe="1m", candles=candle_run(old_day, 10))
    candles_upsert(symbol=btc, timeframe="1m", candles=candle_run(recent_day, 10))
    candles_upsert(symbol=btc, timeframe="1h", candles=candle_run(old_day, 3, minutes=60))
    ensure_partitions_cover("market_candle_1m", now, now)
    old_name, recent_name = f"market_candle_1m_p{old_day:%Y%m%d}", f"market_candle_1m_p{recent_day:%Y%m%d}"
    assert {old_name, recent_name} <= {p.name for p in partitions_of("market_candle_1m")}

    dropped = drop_expired_partitions(policy_for("market_candle_1m"), now=now)

    assert old_name in dropped and recent_name not in dropped
    remaining = {p.name for p in partitions_of("market_candle_1m")}
    assert old_name not in remaining and {recent_name, f"market_candle_1m_p{now:%Y%m%d}"} <= remaining
    assert all(p.end > now - timedelta(days=30) for p in partitions_of("market_candle_1m"))
    assert _stored(btc) == [c.open_time for c in candle_run(recent_day, 10)]
    assert len(_stored(btc, "1h")) == 3, "1h candles are kept forever"
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [old_name])
        assert cursor.fetchone()[0] is None
