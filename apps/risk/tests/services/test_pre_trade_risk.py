"""Pre-trade risk on real orders: each limit refuses in words; reducing is always possible unless halted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import ValidationError
from apps.exchanges.tests.factories import SymbolFactory
from apps.orders.errors import RiskRejectedError
from apps.orders.models import Order
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.services.positions import position_close
from apps.orders.tests.factories import FillFactory, OrderFactory, PositionFactory, TradingAccountFactory
from apps.portfolio.models import Balance, Position
from apps.portfolio.services import account_set_trading_state
from apps.risk.services import risk_limits_get, risk_limits_update

pytestmark = pytest.mark.django_db


def _yesterday() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=1)


def _buy(trader, account, symbol, quantity: str, **fields) -> Order:
    return order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=symbol, side="BUY", order_type="MARKET", quantity=Decimal(quantity), **fields)
    )


def _refused(trader, account, symbol, quantity: str, **fields) -> RiskRejectedError:
    usdt = Balance.objects.get(account=account, asset="USDT").free
    orders = Order.objects.count()
    with pytest.raises(RiskRejectedError) as refused:
        _buy(trader, account, symbol, quantity, **fields)
    assert Order.objects.count() == orders, "a refused order leaves no row"
    assert Balance.objects.get(account=account, asset="USDT").free == usdt, "and holds nothing"
    assert refused.value.status_code == 422 and refused.value.code == "risk_rejected"
    return refused.value


def test_an_order_above_the_max_order_notional_is_refused_in_words(trader, account, sim) -> None:
    risk_limits_update(actor=trader, max_order_notional=Decimal("1000"))

    error = _refused(trader, account, sim["BTC/USDT"], "0.1")

    assert error.message.startswith("Your risk limits: order value ")
    assert error.message.endswith("is above the limit of 1,000.00 per order.")
    assert error.extra == {"rule": "max_order_notional"}
    assert AuditEvent.objects.filter(action="order.rejected_by_risk", owner=trader).exists()


def test_an_order_that_would_grow_a_position_beyond_the_max_position_notional_is_refused(trader, account, sim) -> None:
    btc = sim["BTC/USDT"]
    _buy(trader, account, btc, "0.1")
    risk_limits_update(actor=trader, max_position_notional=Decimal("8000"))

    error = _refused(trader, account, btc, "0.05")

    assert "the position would be worth" in error.message and "above the limit of 8,000.00 per symbol" in error.message
    assert error.extra["rule"] == "max_position_notional"


def test_leverage_above_the_max_leverage_is_refused(trader, account, sim) -> None:
    risk_limits_update(actor=trader, max_leverage=5)

    error = _refused(trader, account, sim["BTC/USDT:USDT"], "0.01", leverage=10)

    assert error.message == "Your risk limits: leverage 10x is above the limit of 5x."


def test_a_new_position_beyond_the_max_open_positions_is_refused_but_adding_to_one_is_not(trader, account, sim) -> None:
    _buy(trader, account, sim["ETH/USDT"], "0.5")
    risk_limits_update(actor=trader, max_open_positions=1)

    error = _refused(trader, account, sim["BTC/USDT"], "0.01")

    assert error.message == "Your risk limits: 1 positions are open, the limit is 1."
    assert _buy(trader, account, sim["ETH/USDT"], "0.5").status == "FILLED"


def test_todays_realised_loss_at_the_max_daily_loss_blocks_new_risk_until_midnight_utc(trader, account, sim) -> None:
    FillFactory(order__account=account, order__symbol=sim["BTC/USDT"], realized_pnl=Decimal("-480"), fee=Decimal("20"), executed_at=datetime.now(UTC))
    risk_limits_update(actor=trader, max_daily_loss=Decimal("500"))

    error = _refused(trader, account, sim["BTC/USDT"], "0.01")

    assert "today's realised loss 500.00 has reached the daily limit 500.00" in error.message
    assert "until 00:00 UTC" in error.message


def test_yesterdays_losses_do_not_count_towards_the_daily_limit(trader, account, sim) -> None:
    FillFactory(order__account=account, order__symbol=sim["BTC/USDT"], realized_pnl=Decimal("-5000"), executed_at=_yesterday())
    risk_limits_update(actor=trader, max_daily_loss=Decimal("500"))

    assert _buy(trader, account, sim["BTC/USDT"], "0.01").status == "FILLED"


def test_limits_never_trap_a_trader_in_a_position(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    _buy(trader, account, perp, "0.1", leverage=2)
    risk_limits_update(actor=trader, max_order_notional=Decimal("10"), max_position_notional=Decimal("10"), max_open_positions=1, max_leverage=1)

    order = position_close(actor=trader, position_id=Position.objects.get(account=account, symbol=perp).pk)

    assert order.status == "FILLED" and order.reduce_only


def test_a_halted_account_refuses_every_order_even_a_closing_one(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    _buy(trader, account, perp, "0.01")
    account_set_trading_state(actor=trader, account=account, state="halted", reason="daily loss monitor")
    position = Position.objects.get(account=account, symbol=perp)

    error = _refused(trader, account, sim["BTC/USDT"], "0.01")
    assert error.message == "Trading is halted on this account (daily loss monitor)."
    with pytest.raises(RiskRejectedError, match="halted"):
        position_close(actor=trader, position_id=position.pk)
    position.refresh_from_db()
    assert position.quantity == Decimal("0.01")


def test_a_reduce_only_account_refuses_new_risk_but_lets_positions_close(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    _buy(trader, account, perp, "0.01")
    account_set_trading_state(actor=trader, account=account, state="reduce_only", reason="margin call")

    error = _refused(trader, account, perp, "0.01")
    assert error.message == "This account is reduce-only (margin call): only orders that shrink a position are accepted."

    order = position_close(actor=trader, position_id=Position.objects.get(account=account, symbol=perp).pk)
    assert order.status == "FILLED"


def test_a_reduce_only_order_larger_than_the_position_is_refused_naming_the_flag(trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    _buy(trader, account, perp, "0.01")

    with pytest.raises(ValidationError) as refused:
        order_submit(
            actor=trader,
            account=account,
            request=OrderRequest(symbol=perp, side="SELL", order_type="MARKET", quantity=Decimal("0.02"), reduce_only=True),
        )

    assert refused.value.code == "reduce_only_violation" and list(refused.value.extra["fields"]) == ["reduce_only"]
    assert Order.objects.count() == 1


def test_limits_are_per_trader_not_per_account(trader, sim) -> None:
    risk_limits_update(actor=trader, max_open_positions=1)
    first = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    PositionFactory(account=TradingAccountFactory(owner=trader, exchange__code="BINANCE"), quantity=Decimal("1"))

    with pytest.raises(RiskRejectedError, match="1 positions are open"):
        _buy(trader, first, sim["BTC/USDT"], "0.01")


def test_another_traders_limits_do_not_apply_to_me(trader, account, sim) -> None:
    other = OrderFactory().account.owner
    risk_limits_update(actor=other, max_order_notional=Decimal("1"))

    assert _buy(trader, account, sim["BTC/USDT"], "0.01").status == "FILLED"


# Changing limits ------------------------------------------------------------------------


def test_limits_start_empty_and_are_changed_with_an_audit_trail(trader) -> None:
    assert risk_limits_get(actor=trader).max_order_notional is None

    limits = risk_limits_update(actor=trader, max_order_notional=Decimal("5000"), max_leverage=10)

    assert (limits.max_order_notional, limits.max_leverage) == (Decimal("5000"), 10)
    event = AuditEvent.objects.get(action="risk_limits.changed", actor=trader)
    assert event.changes["max_order_notional"] == [None, "5000"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_order_notional": Decimal("-1")}, "max_order_notional"),
        ({"max_daily_loss": Decimal("0")}, "max_daily_loss"),
        ({"max_leverage": 0}, "max_leverage"),
        ({"max_leverage": 200}, "max_leverage"),
        ({"max_open_positions": 0}, "max_open_positions"),
    ],
)
def test_a_limit_out_of_range_is_refused_naming_it(trader, values, field) -> None:
    with pytest.raises(ValidationError) as refused:
        risk_limits_update(actor=trader, **values)

    assert list(refused.value.extra["fields"]) == [field]
    assert risk_limits_get(actor=trader).max_leverage is None


def test_an_unknown_limit_is_refused(trader) -> None:
    with pytest.raises(ValidationError, match="Unknown risk limit"):
        risk_limits_update(actor=trader, max_fun=1)


def test_a_live_loss_does_not_count_towards_the_paper_daily_limit(trader, account, sim) -> None:
    live = TradingAccountFactory(owner=trader, live=True)
    live_btc = SymbolFactory(exchange=live.exchange, symbol="BTC/USDT")
    FillFactory(order__account=live, order__symbol=live_btc, realized_pnl=Decimal("-5000"), executed_at=datetime.now(UTC))
    risk_limits_update(actor=trader, max_daily_loss=Decimal("500"))

    assert _buy(trader, account, sim["BTC/USDT"], "0.01").status == "FILLED"

    FillFactory(order__account=account, order__symbol=sim["BTC/USDT"], realized_pnl=Decimal("-600"), executed_at=datetime.now(UTC))
    error = _refused(trader, account, sim["BTC/USDT"], "0.01")
    assert "today's realised loss" in error.message


def test_a_loss_in_another_quote_currency_is_not_added_to_this_one(trader, account, sim) -> None:
    btc_usdc = SymbolFactory(exchange=account.exchange, symbol="BTC/USDC")
    FillFactory(order__account=account, order__symbol=btc_usdc, realized_pnl=Decimal("-5000"), executed_at=datetime.now(UTC))
    risk_limits_update(actor=trader, max_daily_loss=Decimal("500"))

    assert _buy(trader, account, sim["BTC/USDT"], "0.01").status == "FILLED"


def test_open_positions_of_the_other_mode_do_not_count_towards_max_open_positions(trader, account, sim) -> None:
    live = TradingAccountFactory(owner=trader, live=True)
    PositionFactory(account=live, symbol=SymbolFactory(exchange=live.exchange, symbol="ETH/USDT"))
    risk_limits_update(actor=trader, max_open_positions=1)

    assert _buy(trader, account, sim["BTC/USDT"], "0.01").status == "FILLED"
    error = _refused(trader, account, sim["ETH/USDT"], "0.5")
    assert error.extra == {"rule": "max_open_positions"}
