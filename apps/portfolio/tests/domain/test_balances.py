"""Balances: locking, spending, spot fills, perpetual margin and settlement, equity and margin ratio."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.orders.domain.model import Fill, Liquidity, OrderSide, SymbolRules
from apps.portfolio.domain.balances import (
    Balance,
    Balances,
    InsufficientBalance,
    MissingMark,
    account_equity,
    account_margin_ratio,
    position_margin,
)
from apps.portfolio.domain.positions import FeeCurrencyMismatch, Position

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
NOON = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
SPOT = SymbolRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
    min_quantity=D("0.00001"),
    min_notional=D("5"),
    max_leverage=1,
    is_perpetual=False,
)
PERP = replace(SPOT, symbol="BTC/USDT:USDT", max_leverage=125, is_perpetual=True, maintenance_margin_rate=D("0.005"))


def fill(rules: SymbolRules, side: OrderSide, quantity: str, price: str, fee: str = "0", fee_currency: str = "USDT") -> Fill:
    return Fill("o-1", rules.symbol, side, D(price), D(quantity), D(fee), fee_currency, Liquidity.TAKER, NOON)


def wallet(**assets: tuple[str, str]) -> Balances:
    return Balances(Balance(asset, D(free), D(locked)) for asset, (free, locked) in assets.items())


def amounts(balances: Balances) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (balance.free, balance.locked) for asset, balance in balances.items() if balance.total != 0 or balance.locked != 0}


# Balance and Balances ----------------------------------------------------------------------


def test_a_balance_totals_free_and_locked_and_is_never_negative() -> None:
    assert Balance("USDT", D("7.5"), D("2.5")).total == D(10)
    for free, locked in (("-1", "0"), ("0", "-1"), ("NaN", "0")):
        with pytest.raises(ValueError):
            Balance("USDT", D(free), D(locked))


def test_balances_are_an_immutable_mapping_and_read_missing_assets_as_zero() -> None:
    balances = wallet(USDT=("100", "0"))
    assert balances["USDT"] == Balance("USDT", D(100))
    assert balances.balance("ETH") == Balance("ETH")
    assert "ETH" not in balances
    with pytest.raises(AttributeError):
        balances.anything = 1  # type: ignore[attr-defined]
    locked = balances.lock("USDT", D(40))
    assert balances == wallet(USDT=("100", "0"))
    assert locked == wallet(USDT=("60", "40"))
    with pytest.raises(ValueError):
        Balances([Balance("USDT"), Balance("USDT")])


MOVES = [
    pytest.param("lock", "30", ("70", "40"), id="lock"),
    pytest.param("unlock", "5", ("105", "5"), id="unlock"),
    pytest.param("debit_locked", "5", ("100", "5"), id="debit-locked"),
    pytest.param("debit", "100", ("0", "10"), id="debit-everything-free"),
    pytest.param("credit", "1.5", ("101.5", "10"), id="credit"),
    pytest.param("settle", "2", ("102", "10"), id="settle-a-gain"),
    pytest.param("settle", "-2", ("98", "10"), id="settle-a-loss"),
    pytest.param("lock", "0", ("100", "10"), id="zero-is-a-no-op"),
]


@pytest.mark.parametrize(("move", "amount", "expected"), MOVES)
def test_moves(move: str, amount: str, expected: tuple[str, str]) -> None:
    result = getattr(wallet(USDT=("100", "10")), move)("USDT", D(amount))
    assert result["USDT"] == Balance("USDT", D(expected[0]), D(expected[1]))


SHORTFALLS = [
    pytest.param("lock", "100.01", "100", id="lock-more-than-free"),
    pytest.param("unlock", "10.01", "10", id="unlock-more-than-locked"),
    pytest.param("debit_locked", "11", "10", id="spend-more-than-locked"),
    pytest.param("debit", "101", "100", id="spend-more-than-free"),
    pytest.param("settle", "-100.5", "100", id="settle-a-loss-larger-than-free"),
]


@pytest.mark.parametrize(("move", "amount", "available"), SHORTFALLS)
def test_shortfalls_raise_insufficient_balance_with_the_numbers(move: str, amount: str, available: str) -> None:
    with pytest.raises(InsufficientBalance) as raised:
        getattr(wallet(USDT=("100", "10")), move)("USDT", D(amount))
    error = raised.value
    assert (error.asset, error.needed, error.available) == ("USDT", abs(D(amount)), D(available))
    assert error.code == "insufficient_balance"


@pytest.mark.parametrize("move", ["lock", "unlock", "debit_locked", "debit", "credit"])
def test_negative_amounts_are_refused(move: str) -> None:
    with pytest.raises(ValueError):
        getattr(wallet(USDT=("100", "10")), move)("USDT", D(-1))


# Spot fills -------------------------------------------------------------------------------

SPOT_FILLS = [
    pytest.param(wallet(USDT=("0", "1001")), fill(SPOT, BUY, "0.02", "50000", "1", "USDT"), {"USDT": ("0", "0"), "BTC": ("0.02", "0")}, id="buy-fee-in-quote"),
    pytest.param(
        wallet(USDT=("0", "1000")),
        fill(SPOT, BUY, "0.02", "50000", "0.00002", "BTC"),
        {"USDT": ("0", "0"), "BTC": ("0.01998", "0")},
        id="buy-fee-in-base",
    ),
    pytest.param(
        wallet(USDT=("0", "2000")), fill(SPOT, BUY, "0.02", "50000"), {"USDT": ("0", "1000"), "BTC": ("0.02", "0")}, id="partial-fill-leaves-the-rest-locked"
    ),
    pytest.param(wallet(BTC=("0", "0.02")), fill(SPOT, SELL, "0.02", "50000", "1", "USDT"), {"BTC": ("0", "0"), "USDT": ("999", "0")}, id="sell-fee-in-quote"),
    pytest.param(
        wallet(BTC=("0", "0.02")),
        fill(SPOT, SELL, "0.02", "50000", "-0.1", "USDT"),
        {"BTC": ("0", "0"), "USDT": ("1000.1", "0")},
        id="sell-with-maker-rebate",
    ),
    pytest.param(
        wallet(USDT=("0", "1000"), BNB=("1", "0")),
        fill(SPOT, BUY, "0.02", "50000", "0.002", "BNB"),
        {"USDT": ("0", "0"), "BTC": ("0.02", "0"), "BNB": ("0.998", "0")},
        id="fee-in-a-third-currency",
    ),
]


@pytest.mark.parametrize(("start", "trade", "expected"), SPOT_FILLS)
def test_spot_fills(start: Balances, trade: Fill, expected: dict[str, tuple[str, str]]) -> None:
    result = start.apply_spot_fill(trade, SPOT)
    for asset, (free, locked) in expected.items():
        assert result.balance(asset) == Balance(asset, D(free), D(locked))


def test_a_spot_buy_spends_only_what_its_order_locked() -> None:
    with pytest.raises(InsufficientBalance) as raised:
        wallet(USDT=("5000", "1000")).apply_spot_fill(fill(SPOT, BUY, "0.02", "50000", "1"), SPOT)
    assert (raised.value.needed, raised.value.available) == (D("1001"), D("1000"))


def test_a_spot_fill_needs_spot_rules_of_its_own_symbol() -> None:
    with pytest.raises(ValueError):
        wallet(USDT=("0", "1000")).apply_spot_fill(fill(SPOT, BUY, "0.02", "50000"), PERP)
    with pytest.raises(ValueError):
        wallet(USDT=("0", "1000")).apply_spot_fill(fill(PERP, BUY, "0.02", "50000"), SPOT)


# Perpetuals -------------------------------------------------------------------------------


def test_opening_and_closing_a_perpetual_locks_margin_then_settles_pnl_and_fees() -> None:
    start = wallet(USDT=("10000", "0"))
    opened, position = start.apply_perpetual_fill(fill(PERP, BUY, "1", "50000", "20"), Position(PERP.symbol), PERP, leverage=10)
    assert opened["USDT"] == Balance("USDT", D("4980"), D("5000"))  # 5000 margin locked, 20 fee paid
    assert (position.quantity, position.entry_price, position.fees_paid) == (D(1), D(50000), D(20))

    closed, position = opened.apply_perpetual_fill(fill(PERP, SELL, "1", "51000", "20.4"), position, PERP, leverage=10)
    assert closed["USDT"] == Balance("USDT", D("10959.6"), D("0"))  # + 1000 P&L - 20.4 fee, margin back
    assert closed["USDT"].total - start["USDT"].total == position.net_realized


PERPETUAL_SEQUENCES = [
    pytest.param([(BUY, "2", "50000")], ("90000", "10000"), id="open-2-long-at-10x"),
    pytest.param([(BUY, "2", "50000"), (SELL, "1", "50000")], ("95000", "5000"), id="partial-close-releases-half-the-margin"),
    pytest.param([(BUY, "2", "50000"), (SELL, "1", "40000")], ("85000", "5000"), id="partial-close-at-a-loss"),
    pytest.param([(BUY, "1", "50000"), (SELL, "3", "50000")], ("90000", "10000"), id="flip-releases-long-and-locks-short"),
    pytest.param([(SELL, "1", "50000"), (BUY, "3", "45000")], ("96000", "9000"), id="flip-short-to-long-with-profit"),
    pytest.param([(BUY, "1", "40000"), (BUY, "1", "60000")], ("90000", "10000"), id="adds-lock-at-their-own-price"),
]


@pytest.mark.parametrize(("trades", "expected"), PERPETUAL_SEQUENCES)
def test_perpetual_margin_follows_the_position(trades: list[tuple[OrderSide, str, str]], expected: tuple[str, str]) -> None:
    balances, position = wallet(USDT=("100000", "0")), Position(PERP.symbol)
    for side, quantity, price in trades:
        balances, position = balances.apply_perpetual_fill(fill(PERP, side, quantity, price), position, PERP, leverage=10)
    assert balances["USDT"] == Balance("USDT", D(expected[0]), D(expected[1]))
    assert balances["USDT"].locked == position_margin(position, 10)


def test_a_loss_larger_than_the_account_raises_instead_of_going_negative() -> None:
    balances, position = wallet(USDT=("5000", "0")).apply_perpetual_fill(fill(PERP, BUY, "1", "50000"), Position(PERP.symbol), PERP, leverage=10)
    with pytest.raises(InsufficientBalance):
        balances.apply_perpetual_fill(fill(PERP, SELL, "1", "44000"), position, PERP, leverage=10)


def test_a_perpetual_fee_in_bnb_is_debited_in_bnb_and_counted_in_quote_on_the_position() -> None:
    start = wallet(USDT=("10000", "0"), BNB=("1", "0"))
    trade = fill(PERP, BUY, "1", "50000", "0.03", "BNB")
    with pytest.raises(FeeCurrencyMismatch):
        start.apply_perpetual_fill(trade, Position(PERP.symbol), PERP, leverage=10)
    balances, position = start.apply_perpetual_fill(trade, Position(PERP.symbol), PERP, leverage=10, fee_in_quote=D("18"))
    assert amounts(balances) == {"USDT": (D(5000), D(5000)), "BNB": (D("0.97"), D(0))}
    assert position.fees_paid == D(18)


def test_perpetual_fills_need_perpetual_rules() -> None:
    with pytest.raises(ValueError):
        wallet(USDT=("10000", "0")).apply_perpetual_fill(fill(SPOT, BUY, "1", "50000"), Position(SPOT.symbol), SPOT, leverage=1)


FUNDING = [
    pytest.param("1", "0.0001", "9995", id="long-pays-positive-rate"),
    pytest.param("-1", "0.0001", "10005", id="short-receives-positive-rate"),
    pytest.param("1", "-0.0001", "10005", id="long-receives-negative-rate"),
    pytest.param("-1", "-0.0001", "9995", id="short-pays-negative-rate"),
]


@pytest.mark.parametrize(("quantity", "rate", "free"), FUNDING)
def test_funding_settles_to_free_quote(quantity: str, rate: str, free: str) -> None:
    position = Position(PERP.symbol, D(quantity), D(50000))
    balances, after = wallet(USDT=("10000", "5000")).apply_funding(position, D(rate), D(50000), PERP)
    assert balances["USDT"] == Balance("USDT", D(free), D(5000))
    assert after.funding_paid == D(10000) - D(free)


# Equity and margin ratio ------------------------------------------------------------------


def test_account_equity_counts_quote_other_assets_at_their_mark_and_unrealized_pnl() -> None:
    balances = wallet(USDT=("4000", "5000"), BTC=("0.5", "0.5"), ETH=("0", "0"))
    positions = [Position(PERP.symbol, D(1), D(50000)), Position("ETH/USDT:USDT")]
    marks = {"BTC/USDT": D(48000), PERP.symbol: D(49000)}
    # 9000 USDT + 1 BTC x 48000 + (49000 - 50000) x 1
    assert account_equity(balances, positions, marks, quote="USDT") == D(56000)


def test_account_equity_needs_a_mark_for_everything_held() -> None:
    with pytest.raises(MissingMark):
        account_equity(wallet(USDT=("1", "0"), SOL=("1", "0")), [], {}, quote="USDT")
    with pytest.raises(MissingMark):
        account_equity(wallet(USDT=("1", "0")), [Position(PERP.symbol, D(1), D(1))], {}, quote="USDT")


def test_account_margin_ratio() -> None:
    balances = wallet(USDT=("5000", "5000"))
    positions = [Position(PERP.symbol, D(1), D(50000))]
    ratio = account_margin_ratio(balances, positions, {PERP.symbol: D(49000)}, {PERP.symbol: PERP}, quote="USDT")
    assert ratio == D(245) / D(9000)  # 49000 x 0.5 % over 10000 - 1000
    assert account_margin_ratio(balances, [], {}, {}, quote="USDT") == 0


# Properties -------------------------------------------------------------------------------

sides = st.sampled_from([BUY, SELL])
quantities = st.decimals(min_value=D("0.001"), max_value=D("10"), places=3)
prices = st.decimals(min_value=D("1000"), max_value=D("100000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("5"), places=4)
leverages = st.integers(min_value=1, max_value=125)


@given(st.lists(st.tuples(sides, quantities, prices, fees), min_size=1, max_size=20), leverages, prices)
def test_perpetual_wallet_changes_by_exactly_the_positions_net_realized(
    trades: list[tuple[OrderSide, Decimal, Decimal, Decimal]], leverage: int, mark: Decimal
) -> None:
    start = wallet(USDT=("1000000000", "0"))
    balances, position = start, Position(PERP.symbol)
    for side, quantity, price, fee in trades:
        balances, position = balances.apply_perpetual_fill(fill(PERP, side, str(quantity), str(price), str(fee)), position, PERP, leverage=leverage)
    tolerance = D("1e-12")
    assert abs(balances["USDT"].total - start["USDT"].total - position.net_realized) <= tolerance
    assert abs(balances["USDT"].locked - position_margin(position, leverage)) <= tolerance
    equity = account_equity(balances, [position], {PERP.symbol: mark}, quote="USDT")
    assert abs(equity - (start["USDT"].total + position.net_realized + position.unrealized_pnl(mark))) <= tolerance
