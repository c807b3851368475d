"""Bad orders are refused naming the field, and leave nothing behind: no order, no hold, no fill."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.core.errors import ApplicationError, NotFoundError, ValidationError
from apps.exchanges.enums import ConnectionStatus
from apps.exchanges.tests.factories import SymbolFactory
from apps.orders.errors import InsufficientBalanceError
from apps.orders.models import Fill, Order
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db


def _state(account) -> tuple[int, int, int, list[tuple[str, Decimal, Decimal]]]:
    balances = [(b.asset, b.free, b.locked) for b in Balance.objects.filter(account=account).order_by("asset")]
    return Order.objects.count(), Fill.objects.count(), Position.objects.exclude(quantity=0).count(), balances


CASES = [
    pytest.param(
        "SOL/USDT",
        {"order_type": "MARKET", "quantity": Decimal("0.0001")},
        "quantity",
        "Quantity 0.0001 is below the minimum of 0.001.",
        id="quantity-below-min",
    ),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.000015")}, "quantity", "not a multiple of the lot size", id="quantity-off-lot"),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.00001")}, "quantity", "is below the minimum of 5 USDT", id="below-min-notional"),
    pytest.param(
        "BTC/USDT",
        {"order_type": "LIMIT", "quantity": Decimal("0.01"), "price": Decimal("50000.005")},
        "price",
        "Price 50000.005 is not a multiple of the tick size 0.01.",
        id="price-off-tick",
    ),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("-1")}, "quantity", "Quantity must be positive, not -1", id="negative-quantity"),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0")}, "quantity", "Quantity must be positive", id="zero-quantity"),
    pytest.param(
        "BTC/USDT",
        {"order_type": "LIMIT", "quantity": Decimal("0.01"), "price": Decimal("-50000")},
        "price",
        "Price must be positive",
        id="negative-price",
    ),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("1e15")}, "quantity", "is larger than the maximum of 1000000000000", id="absurd-quantity"
    ),
    pytest.param(
        "BTC/USDT",
        {"order_type": "LIMIT", "quantity": Decimal("0.01"), "price": Decimal("1e20")},
        "price",
        "is larger than the maximum",
        id="absurd-price",
    ),
    pytest.param("BTC/USDT", {"order_type": "LIMIT", "quantity": Decimal("0.01")}, "price", "A LIMIT order needs a price", id="limit-without-price"),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "price": Decimal("50000")}, "price", "takes no price", id="market-with-price"
    ),
    pytest.param(
        "ETH/USDT:USDT", {"order_type": "MARKET", "quantity": Decimal("0.1"), "leverage": 110}, "leverage", "above the maximum of 100x", id="leverage-above-max"
    ),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "leverage": 3}, "leverage", "only for perpetual markets", id="leverage-on-spot"
    ),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "reduce_only": True}, "reduce_only", "only for perpetual", id="reduce-only-on-spot"
    ),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "post_only": True}, "post_only", "Post-only needs a LIMIT", id="post-only-market"
    ),
    pytest.param("BTC/USDT", {"order_type": "TRAILING", "quantity": Decimal("0.01")}, "order_type", "Unknown order type 'TRAILING'", id="unknown-type"),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": None}, "quantity", "Give a quantity", id="no-quantity"),
    pytest.param(
        "BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "client_order_id": "has spaces!"}, "client_order_id", "letters, digits", id="bad-id"
    ),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("10")}, "quantity", "Not enough USDT", id="insufficient-balance"),
    pytest.param("BTC/USDT", {"order_type": "MARKET", "quantity": Decimal("0.01"), "side": "SELL"}, "quantity", "Not enough BTC", id="selling-coins-not-held"),
]


@pytest.mark.parametrize(("symbol", "fields", "field", "message"), CASES)
def test_a_bad_order_is_refused_naming_the_field_and_writes_nothing(trader, account, sim, symbol, fields, field, message) -> None:
    before = _state(account)
    fields = {"side": "BUY", **fields}

    with pytest.raises(ValidationError) as refused:
        order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim[symbol], **fields))

    assert field in refused.value.extra["fields"], refused.value.extra
    assert message in refused.value.message
    assert refused.value.status_code == 400
    assert _state(account) == before


def test_insufficient_balance_says_what_is_needed_and_what_is_free(trader, account, sim) -> None:
    with pytest.raises(InsufficientBalanceError) as refused:
        order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("10")))

    assert refused.value.code == "insufficient_balance"
    assert refused.value.extra["asset"] == "USDT" and Decimal(refused.value.extra["free"]) == Decimal("100000")
    assert Decimal(refused.value.extra["needed"]) > Decimal("100000")
    assert refused.value.message.endswith(", 100000 USDT is free.")  # not 1E+5


def test_a_symbol_of_another_exchange_is_refused(trader, account, sim) -> None:
    binance_btc = SymbolFactory(exchange__code="BINANCE")
    before = _state(account)

    with pytest.raises(ValidationError) as refused:
        order_submit(actor=trader, account=account, request=OrderRequest(symbol=binance_btc, side="BUY", order_type="MARKET", quantity=Decimal("0.01")))

    assert refused.value.extra["fields"] == {"symbol": ["BTC/USDT is not traded on Simulated exchange."]}
    assert _state(account) == before


def test_an_inactive_symbol_is_refused(trader, account, sim) -> None:
    sol = sim["SOL/USDT"]
    sol.active = False
    sol.save(update_fields=["active"])

    with pytest.raises(ValidationError, match="SOL/USDT is not active"):
        order_submit(actor=trader, account=account, request=OrderRequest(symbol=sol, side="BUY", order_type="MARKET", quantity=Decimal("1")))

    assert not Order.objects.exists()


def test_someone_elses_account_is_not_found(trader, account, sim) -> None:
    with pytest.raises(NotFoundError):
        order_submit(
            actor=UserFactory(), account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01"))
        )

    assert not Order.objects.exists()


@pytest.mark.parametrize("status", [ConnectionStatus.UNVERIFIED, ConnectionStatus.FAILED])
def test_a_live_order_without_a_verified_connection_is_refused_before_anything_is_sent(trader, status) -> None:
    live = TradingAccountFactory(owner=trader, live=True, balances={"USDT": "1000"})
    live.api_connection.status = status
    live.api_connection.save(update_fields=["status"])
    symbol = SymbolFactory(exchange=live.exchange)
    before = _state(live)

    with pytest.raises(ApplicationError) as refused:
        order_submit(
            actor=trader, account=live, request=OrderRequest(symbol=symbol, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=Decimal("50000"))
        )

    assert refused.value.code == "live_account_not_ready"
    assert list(refused.value.extra["fields"]) == ["account"]
    assert "not verified" in refused.value.message
    assert _state(live) == before
