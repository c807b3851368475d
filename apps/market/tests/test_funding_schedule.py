"""The streamer's funding loop settles each funding interval of a paper perpetual position once,
when its funding time passes.

The loop (`MarketStreamer._funding_forever`) is driven on a fake clock: the SIM venue (8-hour
funding periods) and the streamer both read it, and each of the loop's pauses moves it on two
hours, so a day of funding runs in well under a second against the real database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.exchanges.domain.types import FundingRate, Ticker
from apps.exchanges.gateways.sim import SimGateway
from apps.exchanges.models import Symbol
from apps.market import streaming
from apps.market.streaming import MarketStreamer, SymbolState
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)  # an hour before SIM's 08:00 funding time
STEP = timedelta(hours=2)  # fake time per pause of the loop
MARK = Decimal("60000")


class SteppingClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class _Pauses:
    """Stands in for the `asyncio` the streaming module sleeps with: a pause moves the clock on
    by STEP, and the loop is stopped after `rounds` passes."""

    def __init__(self, clock: SteppingClock, stop: asyncio.Event, rounds: int) -> None:
        self.clock, self.stop, self.rounds, self.passes = clock, stop, rounds, 0

    async def sleep(self, seconds: float) -> None:
        self.passes += 1
        self.clock.moment += STEP
        if self.passes >= self.rounds:
            self.stop.set()
        await asyncio.sleep(0)

    async def wait_for(self, awaitable: Any, timeout: float) -> Any:
        """The loop's pause between rounds (waiting for stop, at most `timeout`): one pause here."""
        awaitable.close()
        await self.sleep(timeout)
        if self.stop.is_set():
            return True
        raise TimeoutError

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def _clocked_datetime(clock: SteppingClock) -> type[datetime]:
    class ClockedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return clock.moment if tz is None else clock.moment.astimezone(tz)

    return ClockedDatetime


def _run_funding_loop(monkeypatch, symbols: list[Symbol], rounds: int, start: datetime = START) -> SteppingClock:
    clock = SteppingClock(start)
    streamer = MarketStreamer(exchange_codes=["SIM"])
    streamer._gateways["SIM"] = SimGateway(clock=clock)  # the venue's funding times follow the same clock
    for symbol in symbols:
        ticker = Ticker(symbol.symbol, MARK, None, None, None, None, None, None, None, start)
        streamer.states[f"SIM:{symbol.slug}"] = SymbolState(symbol=symbol, ticker=ticker)
    monkeypatch.setattr(streaming, "datetime", _clocked_datetime(clock))

    async def scenario() -> None:
        stop = asyncio.Event()
        monkeypatch.setattr(streaming, "asyncio", _Pauses(clock, stop, rounds))
        await asyncio.wait_for(streamer._funding_forever(stop), timeout=30)

    async_to_sync(scenario)()
    return clock


def _rate_of_period_ending(symbol: Symbol, boundary: datetime) -> Decimal:
    """SIM's rate for the 8-hour period paid at `boundary`, asked of the venue just before it."""
    venue = SimGateway(clock=SteppingClock(boundary - timedelta(seconds=1)))
    funding = async_to_sync(venue.fetch_funding_rate)(symbol.symbol)
    assert funding.next_funding_time == boundary
    return funding.rate


@pytest.fixture
def long_perp(db: None) -> tuple[Position, Symbol, Symbol]:
    sim = sim_markets()
    perp = Symbol.objects.select_related("exchange").get(pk=sim["BTC/USDT:USDT"].pk)
    spot = Symbol.objects.select_related("exchange").get(pk=sim["BTC/USDT"].pk)
    trader = UserFactory()
    account = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.1"), leverage=5))
    return Position.objects.get(account=account, symbol=perp), perp, spot


def test_funding_is_settled_once_per_interval_as_each_funding_time_passes(monkeypatch, long_perp) -> None:
    position, perp, spot = long_perp
    free_before = Balance.objects.get(account=position.account, asset="USDT").free
    boundaries = [datetime(2026, 11, 22, 8, tzinfo=UTC), datetime(2026, 11, 22, 16, tzinfo=UTC), datetime(2026, 11, 23, 0, tzinfo=UTC)]

    # Passes at 07:00, 09:00, ... 01:00 the next day: the funding times 08:00, 16:00 and 00:00 go by.
    clock = _run_funding_loop(monkeypatch, [perp, spot], rounds=10)

    assert clock.moment == START + 10 * STEP
    payments = [Decimal("0.1") * MARK * _rate_of_period_ending(perp, boundary) for boundary in boundaries]
    assert len(set(payments)) == 3  # each interval at its own rate, so a double or missed settlement shows
    position.refresh_from_db()
    assert position.funding_paid == sum(payments)
    assert position.last_funding_at == boundaries[-1]
    assert Balance.objects.get(account=position.account, asset="USDT").free == free_before - sum(payments)
    assert AuditEvent.objects.filter(action="position.funding").count() == 3


def test_nothing_is_settled_before_the_first_funding_time_passes(monkeypatch, long_perp) -> None:
    position, perp, spot = long_perp
    free_before = Balance.objects.get(account=position.account, asset="USDT").free

    _run_funding_loop(monkeypatch, [perp, spot], rounds=1)  # one pass at 07:00: 08:00 is only scheduled

    position.refresh_from_db()
    assert (position.funding_paid, position.last_funding_at) == (Decimal(0), None)
    assert Balance.objects.get(account=position.account, asset="USDT").free == free_before
    assert not AuditEvent.objects.filter(action="position.funding").exists()


def test_the_rate_paid_is_the_last_one_the_venue_predicted_before_the_funding_time(monkeypatch, long_perp) -> None:
    position, perp, _ = long_perp
    eight = datetime(2026, 11, 22, 8, tzinfo=UTC)
    predictions = {datetime(2026, 11, 22, 5, tzinfo=UTC): Decimal("0.0001"), datetime(2026, 11, 22, 7, tzinfo=UTC): Decimal("0.0003")}

    async def predicted(self: SimGateway, symbol: str) -> FundingRate:
        now = self._clock.now()
        if now < eight:
            return FundingRate(symbol, predictions[now], eight, now)
        return FundingRate(symbol, Decimal("0.0009"), eight + timedelta(hours=8), now)

    monkeypatch.setattr(SimGateway, "fetch_funding_rate", predicted)

    _run_funding_loop(monkeypatch, [perp], rounds=3, start=datetime(2026, 11, 22, 5, tzinfo=UTC))  # passes at 05:00, 07:00, 09:00

    position.refresh_from_db()
    assert position.funding_paid == Decimal("0.1") * MARK * Decimal("0.0003")  # the 07:00 prediction, not the 05:00 one
    assert position.last_funding_at == eight
