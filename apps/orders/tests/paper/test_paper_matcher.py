"""Resting paper orders and position exits, worked against trades by the paper matcher."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.paper import PaperMatcher, funding_settle
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.services.positions import position_set_sl_tp
from apps.portfolio.models import Balance, Position
from apps.portfolio.services import paper_account_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader():
    sim_symbols_prepare()
    user = UserFactory()
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": "100000"})
    return user, account


def _symbol(name: str) -> Symbol:
    return Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol=name)


def _now() -> datetime:
    return datetime.now(UTC)


def test_a_resting_buy_limit_fills_as_maker_when_the_market_trades_through_it(trader) -> None:
    user, account = trader
    btc = _symbol("BTC/USDT")
    limit = btc.round_price(current_book(btc).best_bid * Decimal("0.99"), "down")
    order = order_submit(actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=limit))
    assert order.status == "OPEN"
    matcher = PaperMatcher()
    matcher.sync([btc.pk])

    assert matcher.on_trade(btc, limit, Decimal("1"), _now()) == 0  # touching is not trading through
    assert matcher.on_trade(btc, limit - btc.tick_size, Decimal("1"), _now()) == 1

    order.refresh_from_db()
    assert order.status == "FILLED"
    assert order.average_price == limit
    assert order.fees == limit * Decimal("0.01") * account.maker_fee_rate
    assert order.locked_amount == 0
    assert Balance.objects.get(account=account, asset="BTC").free == Decimal("0.01")


def test_an_order_canceled_meanwhile_is_not_filled(trader) -> None:
    from apps.orders.services.placement import order_cancel

    user, account = trader
    btc = _symbol("BTC/USDT")
    limit = btc.round_price(current_book(btc).best_bid * Decimal("0.99"), "down")
    order = order_submit(actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=limit))
    matcher = PaperMatcher()
    matcher.sync([btc.pk])
    order_cancel(actor=user, order_id=order.pk)

    matcher.on_trade(btc, limit - 100 * btc.tick_size, Decimal("1"), _now())

    order.refresh_from_db()
    assert order.status == "CANCELED"
    assert order.filled_quantity == 0
    assert Balance.objects.get(account=account, asset="USDT").locked == 0


def test_a_stop_market_triggers_on_the_trade_price_and_fills_at_the_gapped_price(trader) -> None:
    user, account = trader
    btc = _symbol("BTC/USDT")
    ask = current_book(btc).best_ask
    stop = btc.round_price(ask * Decimal("1.01"), "up")
    order = order_submit(
        actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="STOP_MARKET", quantity=Decimal("0.01"), stop_price=stop)
    )
    matcher = PaperMatcher()
    matcher.sync([btc.pk])
    gapped = stop + 50 * btc.tick_size

    matcher.on_trade(btc, gapped, Decimal("1"), _now())

    order.refresh_from_db()
    assert order.status == "FILLED"
    assert order.average_price >= gapped  # filled at the gapped price plus slippage, never at the stop


def test_a_stop_loss_on_a_position_closes_it_when_reached(trader) -> None:
    user, account = trader
    perp = _symbol("BTC/USDT:USDT")
    order_submit(actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=5))
    position = Position.objects.get(account=account, symbol=perp)
    stop = perp.round_price(position.entry_price * Decimal("0.98"), "down")
    position_set_sl_tp(actor=user, position_id=position.pk, stop_loss=stop, take_profit=None)
    matcher = PaperMatcher()
    matcher.sync([perp.pk])

    matcher.on_trade(perp, stop - perp.tick_size, Decimal("1"), _now())

    position.refresh_from_db()
    assert position.quantity == 0
    closing = Order.objects.filter(account=account, symbol=perp, reduce_only=True).get()
    assert closing.status == "FILLED" and closing.source == "system"


def test_funding_is_paid_by_longs_once_per_interval(trader) -> None:
    user, account = trader
    perp = _symbol("BTC/USDT:USDT")
    order_submit(actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.1"), leverage=5))
    free_before = Balance.objects.get(account=account, asset="USDT").free
    at = datetime(2026, 11, 22, 8, tzinfo=UTC)

    assert funding_settle(symbol=perp, rate=Decimal("0.0001"), mark=Decimal("60000"), at=at) == 1
    assert funding_settle(symbol=perp, rate=Decimal("0.0001"), mark=Decimal("60000"), at=at) == 0

    position = Position.objects.get(account=account, symbol=perp)
    assert position.funding_paid == Decimal("0.6")
    assert Balance.objects.get(account=account, asset="USDT").free == free_before - Decimal("0.6")


def test_funding_beyond_the_free_balance_comes_out_of_the_positions_margin_and_never_creates_money(trader) -> None:
    user, account = trader
    perp = _symbol("BTC/USDT:USDT")
    order_submit(actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.1"), leverage=5))
    Balance.objects.filter(account=account, asset="USDT").update(free=Decimal("10"))
    margin = Position.objects.get(account=account, symbol=perp).isolated_margin
    locked = Balance.objects.get(account=account, asset="USDT").locked
    at = datetime(2026, 11, 22, 16, tzinfo=UTC)

    funding_settle(symbol=perp, rate=Decimal("0.01"), mark=Decimal("60000"), at=at)  # 60 USDT due, 10 free

    position = Position.objects.get(account=account, symbol=perp)
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert usdt.free == 0
    assert position.isolated_margin == margin - Decimal(50) and usdt.locked == locked - Decimal(50)
    assert position.funding_paid == Decimal(60)  # what was paid is what was recorded


def test_a_funding_payment_and_an_exit_edit_are_pushed_to_the_owners_pages(trader, monkeypatch, django_capture_on_commit_callbacks) -> None:
    from apps.orders.services import push

    user, account = trader
    perp = _symbol("BTC/USDT:USDT")
    order_submit(actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=5))
    position = Position.objects.get(account=account, symbol=perp)
    sent: list[tuple[object, str]] = []
    monkeypatch.setattr("apps.core.broadcast.user_is_listening", lambda owner_id: True)
    monkeypatch.setattr(push, "send_html_to_user_now", lambda owner_id, html: sent.append((owner_id, html)))

    with django_capture_on_commit_callbacks(execute=True):
        funding_settle(symbol=perp, rate=Decimal("0.0001"), mark=Decimal("60000"), at=datetime(2026, 11, 23, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        position_set_sl_tp(actor=user, position_id=position.pk, stop_loss=perp.round_price(position.entry_price * Decimal("0.9"), "down"), take_profit=None)

    assert [owner for owner, _ in sent] == [user.pk, user.pk]
    for _, html in sent:
        assert f'id="position-{position.pk}"' in html and "balances" in html and "positions-changed balances-changed" in html


def test_fills_pay_the_accounts_venue_tier_a_taker_fee_at_once_and_a_maker_rebate_when_resting(db) -> None:
    sim_symbols_prepare()
    user = UserFactory()
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": "100000"}, fee_tier="Market maker")
    btc = _symbol("BTC/USDT")
    taken = order_submit(actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="MARKET", quantity=Decimal("0.01")))
    limit = btc.round_price(current_book(btc).best_bid * Decimal("0.99"), "down")
    resting = order_submit(actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=limit))
    matcher = PaperMatcher()
    matcher.sync([btc.pk])

    matcher.on_trade(btc, limit - btc.tick_size, Decimal("1"), _now())

    taken.refresh_from_db()
    resting.refresh_from_db()
    assert taken.fees == taken.average_price * Decimal("0.01") * Decimal("0.0003")  # the tier's taker rate, not the account's custom 0.05 %
    assert resting.status == "FILLED" and resting.fees == limit * Decimal("0.01") * Decimal("-0.00005")  # a rebate
