"""Placing paper orders on SIM: what fills, at what price, and what it does to balances and positions."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest

from apps.core.errors import ValidationError
from apps.orders.models import Fill, Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import walk
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db

START = Decimal("100000")
TAKER = Decimal("0.0005")


def stored(value: Decimal) -> Decimal:
    """As the database keeps it: 18 decimal places."""
    return value.quantize(Decimal("1e-18"))


def _balance(account, asset: str) -> tuple[Decimal, Decimal]:
    balance = Balance.objects.filter(account=account, asset=asset).first()
    return (balance.free, balance.locked) if balance else (Decimal(0), Decimal(0))


def _submit(trader, account, symbol, **fields) -> Order:
    return order_submit(actor=trader, account=account, request=OrderRequest(symbol=symbol, **fields))


# Market orders ----------------------------------------------------------------------------


def test_a_spot_market_buy_walks_the_sim_book_and_pays_the_taker_fee(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)  # the book the order will meet (cached for the next seconds)
    quantity = book.asks[0].quantity + (book.asks[1].quantity / 2).quantize(btc.lot_size.normalize(), rounding=ROUND_DOWN)  # beyond the best level
    expected = walk(book.asks, quantity)
    notional = sum((price * qty for price, qty in expected), Decimal(0))
    fee = notional * TAKER

    order = _submit(trader, account, btc, side="BUY", order_type="MARKET", quantity=quantity)

    order.refresh_from_db()
    assert order.status == "FILLED" and order.filled_quantity == quantity
    fills = list(Fill.objects.filter(order=order).order_by("price"))
    assert [(f.price, f.quantity, f.liquidity) for f in fills] == [(p, q, "TAKER") for p, q in expected]
    assert [f.fee for f in fills] == [p * q * TAKER for p, q in expected]
    assert order.average_price == stored(notional / quantity)
    assert order.average_price > book.asks[0].price  # slippage: the depth beyond the best ask
    assert order.fees == fee and order.locked_amount == 0
    assert _balance(account, "USDT") == (START - notional - fee, Decimal(0))
    assert _balance(account, "BTC") == (quantity, Decimal(0))
    position = Position.objects.get(account=account, symbol=btc)
    assert (position.quantity, position.entry_price, position.fees_paid) == (quantity, stored(notional / quantity), fee)


def test_a_perpetual_market_buy_locks_margin_and_opens_a_leveraged_long(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    book = current_book(perp)
    quantity = Decimal("0.2")
    expected = walk(book.asks, quantity)
    notional = sum((price * qty for price, qty in expected), Decimal(0))
    margin, fee = notional / 10, notional * TAKER

    order = _submit(trader, account, perp, side="BUY", order_type="MARKET", quantity=quantity, leverage=10)

    order.refresh_from_db()
    assert order.status == "FILLED" and order.fees == fee and order.locked_amount == 0
    assert _balance(account, "USDT") == (START - margin - fee, margin)
    assert not Balance.objects.filter(account=account, asset="BTC").exists()  # a perpetual delivers no coins
    position = Position.objects.get(account=account, symbol=perp)
    assert position.quantity == quantity and position.entry_price == stored(notional / quantity)
    assert (position.leverage, position.isolated_margin, position.margin_mode) == (10, margin, "ISOLATED")


def test_a_perpetual_market_sell_opens_a_short_at_the_bids(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    book = current_book(perp)
    expected = walk(book.bids, Decimal("0.1"))
    notional = sum((price * qty for price, qty in expected), Decimal(0))

    _submit(trader, account, perp, side="SELL", order_type="MARKET", quantity=Decimal("0.1"), leverage=5)

    position = Position.objects.get(account=account, symbol=perp)
    assert position.quantity == Decimal("-0.1") and position.entry_price == stored(notional / Decimal("0.1"))
    assert _balance(account, "USDT") == (START - notional / 5 - notional * TAKER, notional / 5)


def test_an_amount_in_quote_becomes_the_largest_quantity_on_the_lot(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)

    order = _submit(trader, account, btc, side="BUY", order_type="MARKET", quote_amount=Decimal("1000"))

    assert order.quantity == (Decimal("1000") / book.mid).quantize(Decimal("0.00001"), rounding=ROUND_DOWN)
    assert order.status == "FILLED"


# Limit orders and time in force ----------------------------------------------------------


def test_a_limit_buy_below_the_market_rests_open_and_holds_its_cost_plus_the_fee(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    price = (current_book(btc).bids[0].price * Decimal("0.95")).quantize(Decimal("0.01"))
    quantity = Decimal("0.1")
    hold = quantity * price * (1 + TAKER)

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=quantity, price=price)

    order.refresh_from_db()
    assert order.status == "OPEN" and order.filled_quantity == 0
    assert (order.locked_asset, order.locked_amount) == ("USDT", hold)
    assert _balance(account, "USDT") == (START - hold, hold)
    assert not Fill.objects.filter(order=order).exists()
    assert not Position.objects.filter(account=account, symbol=btc).exclude(quantity=0).exists()


def test_a_limit_sell_holds_the_coins_it_would_sell(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    Balance.objects.create(account=account, asset="BTC", free=Decimal("1"))
    price = (current_book(btc).asks[0].price * Decimal("1.05")).quantize(Decimal("0.01"))

    order = _submit(trader, account, btc, side="SELL", order_type="LIMIT", quantity=Decimal("0.4"), price=price)

    assert order.status == "OPEN"
    assert _balance(account, "BTC") == (Decimal("0.6"), Decimal("0.4"))
    assert _balance(account, "USDT") == (START, Decimal(0))


def test_an_ioc_limit_that_cannot_fill_expires_and_releases_its_hold(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    price = (current_book(btc).bids[0].price * Decimal("0.95")).quantize(Decimal("0.01"))

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price, time_in_force="IOC")

    order.refresh_from_db()
    assert order.status == "EXPIRED" and "IOC" in order.reject_reason
    assert order.closed_at is not None and order.locked_amount == 0
    assert _balance(account, "USDT") == (START, Decimal(0))


def test_an_ioc_limit_fills_what_the_book_offers_within_the_limit_and_expires_the_rest(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)
    limit = book.asks[0].price  # only the best level is within the limit
    available = book.asks[0].quantity
    quantity = available + Decimal("0.5")
    fee = available * limit * TAKER

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=quantity, price=limit, time_in_force="IOC")

    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.locked_amount) == ("EXPIRED", available, 0)
    assert _balance(account, "USDT") == (START - available * limit - fee, Decimal(0))
    assert _balance(account, "BTC") == (available, Decimal(0))


def test_a_fok_limit_larger_than_the_book_within_its_limit_expires_without_a_fill(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)
    limit = book.asks[0].price

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=book.asks[0].quantity + Decimal("0.5"), price=limit, time_in_force="FOK")

    order.refresh_from_db()
    assert order.status == "EXPIRED" and "fill-or-kill" in order.reject_reason
    assert order.filled_quantity == 0 and not Fill.objects.filter(order=order).exists()
    assert _balance(account, "USDT") == (START, Decimal(0))


def test_a_fok_limit_the_book_can_fill_fills_completely(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=book.asks[0].quantity, price=book.asks[0].price, time_in_force="FOK")

    order.refresh_from_db()
    assert order.status == "FILLED" and order.average_price == book.asks[0].price


def test_a_post_only_limit_that_would_take_is_rejected_and_holds_nothing(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    crossing = current_book(btc).asks[0].price

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=crossing, post_only=True)

    order.refresh_from_db()
    assert order.status == "REJECTED" and order.reject_reason == "post-only order would take liquidity"
    assert not Fill.objects.filter(order=order).exists()
    assert _balance(account, "USDT") == (START, Decimal(0))


def test_a_post_only_limit_below_the_market_rests_as_a_maker(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    price = current_book(btc).bids[0].price

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=price, post_only=True)

    assert order.status == "OPEN" and order.post_only is True


def test_a_crossing_limit_buy_fills_no_worse_than_its_limit_and_returns_the_unused_hold(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    book = current_book(btc)
    limit = book.asks[0].price + 100  # a generous limit: it pays the book, not the limit
    quantity = book.asks[0].quantity
    cost = quantity * book.asks[0].price

    order = _submit(trader, account, btc, side="BUY", order_type="LIMIT", quantity=quantity, price=limit)

    order.refresh_from_db()
    assert order.status == "FILLED" and order.average_price == book.asks[0].price and order.locked_amount == 0
    assert _balance(account, "USDT") == (START - cost - cost * TAKER, Decimal(0))


# Attached exits -------------------------------------------------------------------------------


def test_an_attached_stop_loss_and_take_profit_land_on_the_position_once_filled(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    mid = current_book(perp).mid
    stop_loss, take_profit = (mid * Decimal("0.9")).quantize(Decimal("0.1")), (mid * Decimal("1.2")).quantize(Decimal("0.1"))

    order = _submit(trader, account, perp, side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=3, stop_loss=stop_loss, take_profit=take_profit)

    assert (order.attached_stop_loss, order.attached_take_profit) == (stop_loss, take_profit)
    position = Position.objects.get(account=account, symbol=perp)
    assert (position.stop_loss, position.take_profit) == (stop_loss, take_profit)


def test_an_attached_stop_loss_above_the_entry_of_a_long_is_refused_naming_the_field(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    above = (current_book(perp).mid * Decimal("1.1")).quantize(Decimal("0.1"))

    with pytest.raises(ValidationError) as refused:
        _submit(trader, account, perp, side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=3, stop_loss=above)

    assert "stop-loss for a long must be below the entry price" in refused.value.message
    assert list(refused.value.extra["fields"]) == ["stop_loss"]
    assert not Order.objects.exists()
    assert _balance(account, "USDT") == (START, Decimal(0))


def test_an_attached_take_profit_above_the_entry_of_a_short_is_refused(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    above = (current_book(perp).mid * Decimal("1.1")).quantize(Decimal("0.1"))

    with pytest.raises(ValidationError) as refused:
        _submit(trader, account, perp, side="SELL", order_type="MARKET", quantity=Decimal("0.01"), take_profit=above)

    assert list(refused.value.extra["fields"]) == ["take_profit"]
    assert "take-profit for a short must be below" in refused.value.message
    assert not Order.objects.exists()
