"""Properties of paper liquidation: a position is liquidated exactly when its margin ratio at the
mark reaches 100 %, never before, and the wallet never loses more than the venue's rules allow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.exchanges.domain.types import Ticker
from apps.exchanges.models import Symbol
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.models import Fill
from apps.orders.services.liquidation import liquidation_due
from apps.orders.services.paper import PaperMatcher
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.domain.margin import initial_margin, maintenance_margin, margin_balance, margin_ratio
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db
MMR = Decimal("0.005")
WALLET = Decimal(10_000)

entries = st.decimals(min_value="1000", max_value="100000", places=1)
sizes = st.decimals(min_value="0.001", max_value="2", places=3)
leverages = st.integers(min_value=2, max_value=125)
paths = st.lists(st.integers(min_value=-2500, max_value=2500), min_size=1, max_size=12)  # mark moves in basis points of the entry


def ratio_at(quantity: Decimal, entry: Decimal, margin: Decimal, mark: Decimal) -> Decimal:
    """The venue's margin ratio, from the domain's definitions."""
    return margin_ratio(maintenance_margin(abs(quantity) * mark, MMR), margin_balance(margin, (mark - entry) * quantity))


@pytest.fixture
def perp() -> Symbol:
    sim_symbols_prepare()
    return Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT:USDT")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=entries, size=sizes, leverage=leverages, long=st.booleans(), cross=st.booleans(), spare=st.integers(min_value=1, max_value=4), path=paths)
def test_a_paper_position_is_liquidated_exactly_when_its_margin_ratio_reaches_100_percent_and_never_before(
    perp: Symbol, entry: Decimal, size: Decimal, leverage: int, long: bool, cross: bool, spare: int, path: list[int]
) -> None:
    quantity = size if long else -size
    margin = initial_margin(size * entry, leverage).quantize(Decimal("1e-18"))
    wallet = margin * spare if cross else WALLET  # cross: the wallet is `spare` times the position's margin
    Position.objects.filter(symbol=perp).delete()  # examples share the test's transaction: one position at a time
    account = TradingAccountFactory(exchange=perp.exchange)
    Balance.objects.create(account=account, asset="USDT", free=wallet - margin, locked=margin)
    position = Position.objects.create(
        account=account,
        symbol=perp,
        quantity=quantity,
        entry_price=entry,
        leverage=leverage,
        isolated_margin=margin,
        margin_mode="CROSS" if cross else "ISOLATED",
    )
    position.refresh_from_db()
    margin = position.isolated_margin  # as stored (18 places), which is what the venue's rule reads
    backing = wallet if cross else margin  # cross: the whole wallet backs the only position
    matcher = PaperMatcher()
    matcher.sync([perp.pk])
    start = datetime(2026, 12, 1, tzinfo=UTC)

    mark = entry
    liquidated_at: Decimal | None = None
    for step, move in enumerate(path):
        mark = max(perp.round_price(mark * (1 + Decimal(move) / 10_000)), perp.tick_size)
        due = ratio_at(quantity, entry, backing, mark) >= 1
        assert liquidation_due(quantity=quantity, entry_price=entry, margin=backing, mark=mark) == due
        done = matcher.on_mark(perp, Ticker(perp.symbol, mark, None, None, None, None, None, None, None, start + timedelta(seconds=step), mark=mark))
        assert done == (1 if due else 0)  # liquidated at this mark exactly when the ratio reached 100 %, never before
        if done:
            liquidated_at = mark
            break

    event(f"{'cross' if cross else 'isolated'} {'liquidated' if liquidated_at is not None else 'kept'}")
    position.refresh_from_db()
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert usdt.free >= 0 and usdt.locked >= 0
    if liquidated_at is None:
        assert position.quantity == quantity and usdt.total == wallet
        return
    fill = Fill.objects.get(account_id=account.pk, liquidity="LIQUIDATION")
    assert position.quantity == 0
    if cross:  # the loss and the fee, from the wallet, never more than it holds
        assert usdt.total == (wallet + fill.realized_pnl - fill.fee).quantize(Decimal("1e-18"))  # balances keep 18 places
        assert (fill.realized_pnl - fill.fee).quantize(Decimal("1e-18")) >= -wallet
    else:  # the margin is lost, never more
        assert usdt.total == wallet - margin
        assert (fill.realized_pnl - fill.fee).quantize(Decimal("1e-18")) == -margin  # the fill keeps more places than balances
    # never filled worse than the mark that liquidated it
    assert (fill.price >= liquidated_at) if long else (fill.price <= liquidated_at)
