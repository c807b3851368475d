"""Closing positions (reduce-only orders like any other) and setting their exits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import NotFoundError, ValidationError
from apps.orders.models import Fill
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.services.positions import position_close, position_set_sl_tp
from apps.orders.tests.factories import walk
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db

TAKER = Decimal("0.0005")


@pytest.fixture
def long_perp(trader, account, sim) -> Position:
    """0.2 BTC-PERP long at 10x, bought at the market."""
    order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT:USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.2"), leverage=10)
    )
    return Position.objects.get(account=account, symbol=sim["BTC/USDT:USDT"])


def test_closing_a_long_at_the_market_sells_it_reduce_only_and_frees_the_margin(trader, account, long_perp) -> None:
    usdt_before = Balance.objects.get(account=account, asset="USDT")
    book = current_book(long_perp.symbol)
    sold = walk(book.bids, Decimal("0.2"))
    proceeds = sum((p * q for p, q in sold), Decimal(0))
    realized = proceeds - long_perp.entry_price * Decimal("0.2")
    fee = proceeds * TAKER

    order = position_close(actor=trader, position_id=long_perp.pk)

    order.refresh_from_db()
    assert (order.side, order.order_type, order.reduce_only, order.quantity, order.status) == ("SELL", "MARKET", True, Decimal("0.2"), "FILLED")
    long_perp.refresh_from_db()
    assert long_perp.quantity == 0 and long_perp.isolated_margin == 0
    assert sum(f.realized_pnl for f in Fill.objects.filter(order=order)) == realized
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert usdt.locked == 0
    assert usdt.free == usdt_before.free + usdt_before.locked + realized - fee


def test_closing_with_a_limit_price_rests_a_reduce_only_order(trader, account, long_perp) -> None:
    above = (current_book(long_perp.symbol).asks[0].price * Decimal("1.1")).quantize(Decimal("0.1"))

    order = position_close(actor=trader, position_id=long_perp.pk, order_type="LIMIT", price=above)

    assert (order.side, order.order_type, order.price, order.reduce_only, order.status) == ("SELL", "LIMIT", above, True, "OPEN")
    long_perp.refresh_from_db()
    assert long_perp.quantity == Decimal("0.2")


def test_a_limit_close_without_a_price_is_refused_naming_the_price(trader, long_perp) -> None:
    with pytest.raises(ValidationError) as refused:
        position_close(actor=trader, position_id=long_perp.pk, order_type="LIMIT")

    assert refused.value.extra["fields"] == {"price": ["A limit close needs a price."]}


def test_closing_a_closed_position_is_refused(trader, long_perp) -> None:
    position_close(actor=trader, position_id=long_perp.pk)

    with pytest.raises(ValidationError, match="already closed"):
        position_close(actor=trader, position_id=long_perp.pk)


def test_closing_a_spot_holding_sells_the_coins(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="MARKET", quantity=Decimal("0.05")))
    position = Position.objects.get(account=account, symbol=btc)

    order = position_close(actor=trader, position_id=position.pk)

    assert (order.side, order.status, order.reduce_only) == ("SELL", "FILLED", False)
    assert Balance.objects.get(account=account, asset="BTC").free == 0
    position.refresh_from_db()
    assert position.quantity == 0


def test_another_user_cannot_close_my_position(long_perp) -> None:
    with pytest.raises(NotFoundError):
        position_close(actor=UserFactory(), position_id=long_perp.pk)

    long_perp.refresh_from_db()
    assert long_perp.quantity == Decimal("0.2")


# Exits ----------------------------------------------------------------------------------


def test_exits_on_the_right_sides_of_the_entry_are_saved_and_audited(trader, long_perp) -> None:
    entry = long_perp.entry_price
    stop_loss, take_profit = (entry * Decimal("0.95")).quantize(Decimal("0.1")), (entry * Decimal("1.1")).quantize(Decimal("0.1"))

    position = position_set_sl_tp(actor=trader, position_id=long_perp.pk, stop_loss=stop_loss, take_profit=take_profit)

    assert (position.stop_loss, position.take_profit) == (stop_loss, take_profit)
    event = AuditEvent.objects.get(action="position.exits_changed")
    assert event.changes["stop_loss"] == [None, str(stop_loss)]


def test_a_stop_loss_above_the_entry_of_a_long_is_refused_naming_the_field(trader, long_perp) -> None:
    above = (long_perp.entry_price * Decimal("1.05")).quantize(Decimal("0.1"))

    with pytest.raises(ValidationError) as refused:
        position_set_sl_tp(actor=trader, position_id=long_perp.pk, stop_loss=above, take_profit=None)

    assert list(refused.value.extra["fields"]) == ["stop_loss"]
    assert refused.value.message.startswith("The stop-loss of a long must be below the entry")
    long_perp.refresh_from_db()
    assert long_perp.stop_loss is None


def test_a_take_profit_below_the_entry_of_a_long_is_refused(trader, long_perp) -> None:
    below = (long_perp.entry_price * Decimal("0.95")).quantize(Decimal("0.1"))

    with pytest.raises(ValidationError) as refused:
        position_set_sl_tp(actor=trader, position_id=long_perp.pk, stop_loss=None, take_profit=below)

    assert list(refused.value.extra["fields"]) == ["take_profit"]


@pytest.mark.parametrize(("value", "message"), [(Decimal("-5"), "Prices must be positive."), (Decimal("50000.05"), "is not a multiple of the tick size 0.1.")])
def test_exit_prices_must_be_positive_and_on_the_tick(trader, long_perp, value, message) -> None:
    with pytest.raises(ValidationError) as refused:
        position_set_sl_tp(actor=trader, position_id=long_perp.pk, stop_loss=value, take_profit=None)

    assert message in refused.value.message and list(refused.value.extra["fields"]) == ["stop_loss"]


def test_empty_exits_clear_them(trader, long_perp) -> None:
    Position.objects.filter(pk=long_perp.pk).update(stop_loss=Decimal("1000"), take_profit=Decimal("900000"))

    position = position_set_sl_tp(actor=trader, position_id=long_perp.pk, stop_loss=None, take_profit=None)

    assert (position.stop_loss, position.take_profit) == (None, None)
