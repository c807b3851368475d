"""Paper perpetuals liquidated at the mark price, and margin calls, as the venue does them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.exchanges.domain.types import Ticker
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.models import Fill, Order
from apps.orders.services.liquidation import liquidation_fee_rate, margin_call_percent
from apps.orders.services.market_inputs import current_book
from apps.orders.services.paper import PaperMatcher
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.models import Balance, Position
from apps.portfolio.presentation import position_liquidation_price
from apps.portfolio.services import paper_account_create

pytestmark = pytest.mark.django_db
SIM_FEE = Decimal("0.005")


@pytest.fixture
def perp() -> Symbol:
    sim_symbols_prepare()
    return Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT:USDT")


def _trader(usdt: str = "1000"):
    user = UserFactory()
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": usdt})
    return user, account


def _open(user, account, perp: Symbol, side: str = "BUY", quantity: str = "0.01", leverage: int = 50, margin_mode: str = "ISOLATED") -> Position:
    order_submit(
        actor=user,
        account=account,
        request=OrderRequest(symbol=perp, side=side, order_type="MARKET", quantity=Decimal(quantity), leverage=leverage, margin_mode=margin_mode),
    )
    return Position.objects.select_related("symbol", "account").get(account=account, symbol=perp)


def _mark(symbol: Symbol, price: Decimal) -> Ticker:
    return Ticker(symbol.symbol, price, None, None, None, None, None, None, None, datetime.now(UTC), mark=price)


def _usdt(account) -> Balance:
    return Balance.objects.get(account=account, asset="USDT")


def _matcher(perp: Symbol) -> PaperMatcher:
    matcher = PaperMatcher()
    matcher.sync([perp.pk])
    return matcher


def test_a_50x_long_is_liquidated_when_the_mark_reaches_its_liquidation_price_and_not_a_tick_before(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp)
    margin = position.isolated_margin
    wallet_before = _usdt(account).total
    liquidation = position_liquidation_price(position)
    assert liquidation is not None
    matcher = _matcher(perp)

    just_above = perp.round_price(liquidation, "up") + perp.tick_size
    assert matcher.on_mark(perp, _mark(perp, just_above)) == 0
    position.refresh_from_db()
    assert position.quantity == Decimal("0.01")

    at_or_below = perp.round_price(liquidation, "down")
    assert matcher.on_mark(perp, _mark(perp, at_or_below)) == 1

    position.refresh_from_db()
    assert position.quantity == 0 and position.isolated_margin == 0
    fill = Fill.objects.get(account=account, symbol=perp, liquidity="LIQUIDATION")
    # the previous mark was short of the price: the fill is at the liquidation price, on the tick towards the entry
    assert fill.price == perp.round_price(liquidation, "up")
    assert fill.side == "SELL" and fill.quantity == Decimal("0.01")
    assert fill.fee == fill.price * Decimal("0.01") * SIM_FEE
    assert fill.realized_pnl - fill.fee == -margin  # isolated: the whole margin is lost, nothing more
    usdt = _usdt(account)
    assert usdt.total == wallet_before - margin and usdt.locked == 0
    order = Order.objects.get(pk=fill.order_id)
    assert order.status == "FILLED" and order.source == "system" and order.reduce_only and "liquidated" in order.reject_reason
    event = AuditEvent.objects.get(action="position.liquidated", owner=user)
    assert "liquidated at" in event.summary and "BTC/USDT:USDT" in event.summary


def test_a_short_is_liquidated_when_the_mark_rises_to_its_liquidation_price(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp, side="SELL", leverage=20)
    liquidation = position_liquidation_price(position)
    assert liquidation is not None and liquidation > position.entry_price
    matcher = _matcher(perp)

    assert matcher.on_mark(perp, _mark(perp, perp.round_price(liquidation, "down") - perp.tick_size)) == 0
    assert matcher.on_mark(perp, _mark(perp, perp.round_price(liquidation, "up"))) == 1

    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    assert fill.side == "BUY" and fill.price == perp.round_price(liquidation, "down")


def test_a_mark_first_seen_beyond_the_liquidation_price_fills_at_the_mark(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp)
    liquidation = position_liquidation_price(position)
    assert liquidation is not None
    gapped = perp.round_price(liquidation * Decimal("0.97"), "down")

    assert _matcher(perp).on_mark(perp, _mark(perp, gapped)) == 1

    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    assert fill.price == gapped
    assert _usdt(account).free >= 0  # the gap beyond the margin is the venue's insurance fund's, not the trader's


def test_a_liquidation_cancels_the_positions_open_orders_and_releases_their_holds(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp)
    below = perp.round_price(current_book(perp).best_bid * Decimal("0.9"), "down")
    resting = order_submit(
        actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=below, leverage=50)
    )
    assert resting.status == "OPEN" and resting.locked_amount > 0
    liquidation = position_liquidation_price(position)
    assert liquidation is not None
    matcher = _matcher(perp)

    matcher.on_mark(perp, _mark(perp, perp.round_price(liquidation, "down")))

    resting.refresh_from_db()
    assert resting.status == "CANCELED" and "liquidated" in resting.reject_reason and resting.locked_amount == 0
    assert _usdt(account).locked == 0


def test_a_cross_position_is_liquidated_only_when_the_whole_wallet_is_used_up(perp) -> None:
    user, account = _trader("1000")
    position = _open(user, account, perp, quantity="0.1", leverage=50, margin_mode="CROSS")
    wallet_before = _usdt(account).total
    isolated_price = perp.round_price(position.entry_price * (1 - Decimal(1) / 50), "down")
    liquidation = position_liquidation_price(position)
    assert liquidation is not None and liquidation < isolated_price  # the wallet backs it, not only its margin
    matcher = _matcher(perp)

    assert matcher.on_mark(perp, _mark(perp, isolated_price)) == 0
    assert matcher.on_mark(perp, _mark(perp, perp.round_price(liquidation, "down"))) == 1

    usdt = _usdt(account)
    assert usdt.free >= 0 and usdt.locked == 0
    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    assert usdt.total == wallet_before + fill.realized_pnl - fill.fee  # the loss and the fee come out of the wallet
    assert fill.realized_pnl - fill.fee < -wallet_before * Decimal("0.9")  # nearly all of it: the wallet backed the position


def test_a_margin_call_is_sent_once_per_crossing_of_the_threshold(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp, leverage=10)
    entry, quantity, margin = position.entry_price, position.quantity, position.isolated_margin
    mmr = Decimal("0.005")

    def mark_at_ratio(percent: Decimal) -> Decimal:
        # MM / (margin + (P - E) Q) = r  =>  P = (margin - E Q) / (Q mmr / r - Q)
        ratio = percent / 100
        return perp.round_price((margin - entry * quantity) / (quantity * mmr / ratio - quantity), "down")

    matcher = _matcher(perp)
    calls = AuditEvent.objects.filter(owner=user, action="position.margin_call")
    matcher.on_mark(perp, _mark(perp, mark_at_ratio(Decimal(50))))
    assert calls.count() == 0
    matcher.on_mark(perp, _mark(perp, mark_at_ratio(Decimal(85))))
    matcher.on_mark(perp, _mark(perp, mark_at_ratio(Decimal(90))))
    assert calls.count() == 1  # one warning for the crossing, not one per update
    position.refresh_from_db()
    assert position.margin_call_at is not None and position.quantity != 0
    assert "Margin call" in calls.get().summary

    matcher.on_mark(perp, _mark(perp, mark_at_ratio(Decimal(60))))
    position.refresh_from_db()
    assert position.margin_call_at is None
    matcher.sync([perp.pk])  # a restart of the matcher reads the state back from the database
    matcher.on_mark(perp, _mark(perp, mark_at_ratio(Decimal(81))))
    assert calls.count() == 2


@override_settings(MARGIN_CALL_PERCENT=Decimal(50))
def test_the_margin_call_threshold_is_a_setting(perp) -> None:
    user, account = _trader()
    position = _open(user, account, perp, leverage=10)
    entry, quantity, margin = position.entry_price, position.quantity, position.isolated_margin
    mark = perp.round_price((margin - entry * quantity) / (quantity * Decimal("0.005") / Decimal("0.55") - quantity), "down")

    _matcher(perp).on_mark(perp, _mark(perp, mark))

    assert AuditEvent.objects.filter(owner=user, action="position.margin_call").count() == 1


@pytest.mark.parametrize("value", [Decimal(0), Decimal(100), Decimal(-5), Decimal(120)])
def test_a_margin_call_threshold_outside_0_to_100_is_an_error_naming_the_setting(value: Decimal) -> None:
    with override_settings(MARGIN_CALL_PERCENT=value), pytest.raises(ImproperlyConfigured, match="MARGIN_CALL_PERCENT"):
        margin_call_percent()


def test_a_liquidation_fee_below_zero_is_an_error_naming_the_setting() -> None:
    with override_settings(LIQUIDATION_FEE_RATES={"SIM": Decimal("-0.001")}), pytest.raises(ImproperlyConfigured, match=r"LIQUIDATION_FEE_RATES\[SIM\]"):
        liquidation_fee_rate("SIM")


def test_each_venue_has_its_own_liquidation_fee() -> None:
    assert liquidation_fee_rate("SIM") == SIM_FEE
    assert liquidation_fee_rate("BINANCE") == Decimal("0.0125")
    with override_settings(LIQUIDATION_FEE_RATES={"SIM": Decimal("0.001")}):
        assert liquidation_fee_rate("SIM") == Decimal("0.001")


def test_a_liquidation_is_shown_on_the_positions_page_and_in_the_order_history(perp, client) -> None:
    user, account = _trader()
    position = _open(user, account, perp)
    liquidation = position_liquidation_price(position)
    assert liquidation is not None
    _matcher(perp).on_mark(perp, _mark(perp, perp.round_price(liquidation, "down")))
    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    client.force_login(user)

    positions = client.get("/positions/").content.decode()
    orders = client.get("/orders/?tab=history").content.decode()

    assert 'data-testid="liquidation-row"' in positions and "Long 50x liquidated" in positions
    assert f'data-testid="liquidation-price">{fill.price.normalize():f}</td>' in positions
    assert "No open positions" in positions
    assert f'id="order-{fill.order_id}"' in orders and "liquidated: margin ratio reached 100 %" in orders


def test_a_liquidation_is_pushed_to_the_owners_pages(perp, monkeypatch, django_capture_on_commit_callbacks) -> None:
    from apps.orders.services import push

    user, account = _trader()
    position = _open(user, account, perp)
    liquidation = position_liquidation_price(position)
    assert liquidation is not None
    sent: list[str] = []
    monkeypatch.setattr("apps.core.broadcast.user_is_listening", lambda owner_id: True)
    monkeypatch.setattr(push, "send_html_to_user_now", lambda owner_id, html: sent.append(html))
    matcher = _matcher(perp)

    with django_capture_on_commit_callbacks(execute=True):
        matcher.on_mark(perp, _mark(perp, perp.round_price(liquidation, "down")))

    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    assert fill is not None
    assert any(f'id="position-{position.pk}"' in html and "balances" in html and "orders-changed positions-changed" in html for html in sent)


def test_a_position_under_a_margin_call_is_marked_on_the_positions_page(perp, client) -> None:
    user, account = _trader()
    position = _open(user, account, perp, leverage=10)
    entry, quantity, margin = position.entry_price, position.quantity, position.isolated_margin
    mark = perp.round_price((margin - entry * quantity) / (quantity * Decimal("0.005") / Decimal("0.9") - quantity), "down")
    _matcher(perp).on_mark(perp, _mark(perp, mark))
    client.force_login(user)

    page = client.get("/positions/").content.decode()

    assert 'data-testid="margin-call"' in page and ">margin call</mark>" in page
