"""/api/v1/accounts/, /balances/ and /positions/: what a trader holds, valued at the mark."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header
from apps.exchanges.enums import ConnectionStatus
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import ApiConnectionFactory, JsonApi, PositionFactory, TradingAccountFactory, ticker_stored
from apps.portfolio.domain.margin import cross_liquidation_price, isolated_liquidation_price, maintenance_margin
from apps.portfolio.models import Balance, Position, TradingAccount
from apps.portfolio.presentation import marks_for

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/accounts/"
POSITIONS = "/api/v1/positions/"


# Accounts ---------------------------------------------------------------------------------


def test_creating_a_paper_account_on_sim_returns_it_with_its_balances(api, trader, sim) -> None:
    response = api.post(ACCOUNTS, {"exchange": "SIM", "balances": {"USDT": "10000"}})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["exchange"], body["mode"], body["name"], body["api_connection"], body["trading_state"]) == (
        "SIM",
        "paper",
        "Paper Simulated exchange",
        None,
        "active",
    )
    assert body["balances"] == [{"asset": "USDT", "free": "10000", "locked": "0", "total": "10000"}]
    assert (body["taker_fee_rate"], body["maker_fee_rate"]) == ("0.0005", "0.0002")
    assert body["fee_tier"] == "Standard"
    assert TradingAccount.objects.get(pk=body["id"]).owner == trader


def test_a_paper_account_can_pay_another_of_its_venues_fee_tiers(api, trader, sim) -> None:
    response = api.post(ACCOUNTS, {"exchange": "SIM", "balances": {"USDT": "10000"}, "fee_tier": "Market maker"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["fee_tier"] == "Market maker"
    assert body["fees"] == {"spot": {"maker": "-0.00005", "taker": "0.0003"}, "perpetual": {"maker": "-0.00005", "taker": "0.0003"}}


def test_a_fee_tier_of_another_venue_is_a_400_naming_the_field(api, trader, sim) -> None:
    response = api.post(ACCOUNTS, {"exchange": "SIM", "balances": {"USDT": "10000"}, "fee_tier": "VIP 1"})

    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["fee_tier"] == ["SIM has no fee tier 'VIP 1'; its tiers: Standard, Market maker."]
    assert not TradingAccount.objects.filter(owner=trader).exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"exchange": "SIM"}, 400, "balances"),
        ({"exchange": "SIM", "balances": {"USDT": "-5"}}, 400, "balances"),
        ({"exchange": "SIM", "balances": {"USDT": "ten"}}, 400, "balances"),
        ({"exchange": "SIM", "balances": ["USDT"]}, 400, "balances"),
        ({"exchange": "NASDAQ", "balances": {"USDT": "10"}}, 404, "exchange"),
        ({"balances": {"USDT": "10"}}, 400, "exchange"),
        ({}, 400, "exchange"),
        ({"api_connection": "0190a3f0-0000-7000-8000-000000000000", "exchange": "SIM"}, 400, "exchange"),
        ({"api_connection": "0190a3f0-0000-7000-8000-000000000000"}, 404, "api_connection"),
        ({"api_connection": "nope"}, 400, "api_connection"),
    ],
)
def test_a_bad_account_request_names_the_field_and_creates_nothing(api, sim, body, status, field) -> None:
    response = api.post(ACCOUNTS, body)

    assert response.status_code == status, response.json()
    assert field in response.json()["extra"]["fields"], response.json()
    assert not TradingAccount.objects.exists()


def test_a_second_paper_account_on_the_same_exchange_is_refused(api, account) -> None:
    response = api.post(ACCOUNTS, {"exchange": "sim", "balances": {"USDT": "5"}})

    assert response.status_code == 400
    assert response.json()["code"] == "account_exists"
    assert response.json()["extra"]["fields"] == {"exchange": ["You already have a paper account on Simulated exchange."]}


def test_a_live_account_is_created_from_a_verified_connection(api, trader) -> None:
    connection = ApiConnectionFactory(owner=trader)

    response = api.post(ACCOUNTS, {"api_connection": str(connection.pk), "name": "Main Binance"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["mode"], body["exchange"], body["name"], body["api_connection"], body["balances"]) == (
        "live",
        "BINANCE",
        "Main Binance",
        str(connection.pk),
        [],
    )


def test_a_live_account_from_an_unverified_connection_is_refused(api, trader) -> None:
    connection = ApiConnectionFactory(owner=trader, status=ConnectionStatus.UNVERIFIED)

    response = api.post(ACCOUNTS, {"api_connection": str(connection.pk)})

    assert response.status_code == 400 and response.json()["code"] == "connection_not_verified"
    assert "Verify the connection" in response.json()["message"]


def test_someone_elses_connection_cannot_open_a_live_account(api) -> None:
    theirs = ApiConnectionFactory()

    response = api.post(ACCOUNTS, {"api_connection": str(theirs.pk)})

    assert response.status_code == 404
    assert response.json()["extra"]["fields"] == {"api_connection": ["No such API connection."]}


def test_accounts_list_only_mine_and_filter_by_mode(api, trader, account) -> None:
    live = TradingAccountFactory(owner=trader, live=True)
    TradingAccountFactory()  # someone else's

    everything = api.get(ACCOUNTS).json()
    live_only = api.get(ACCOUNTS, {"mode": "live"}).json()

    assert {a["id"] for a in everything["results"]} == {str(account.pk), str(live.pk)}
    assert [a["id"] for a in live_only["results"]] == [str(live.pk)]


# Balances ---------------------------------------------------------------------------------


def test_balances_show_free_and_held_amounts_as_strings(api, trader, account, sim) -> None:
    price = (current_book(sim["BTC/USDT"]).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01"))
    order = order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price)
    )
    other = TradingAccountFactory(owner=trader, exchange__code="BYBIT", balances={"USDT": "5"})

    response = api.get("/api/v1/balances/", {"account": str(account.pk)})

    assert response.status_code == 200
    [usdt] = response.json()["results"]
    assert usdt == {
        "account": str(account.pk),
        "exchange": "SIM",
        "mode": "paper",
        "asset": "USDT",
        "free": str((Decimal("100000") - order.locked_amount).normalize()),
        "locked": str(order.locked_amount.normalize()),
        "total": "100000",
    }
    assert {b["account"] for b in api.get("/api/v1/balances/").json()["results"]} == {str(account.pk), str(other.pk)}


def test_another_users_balances_are_404_and_never_listed(client: Client, account) -> None:
    stranger = JsonApi(client, UserFactory())

    assert stranger.get("/api/v1/balances/", {"account": str(account.pk)}).status_code == 404
    assert stranger.get("/api/v1/balances/").json()["count"] == 0
    assert stranger.get(ACCOUNTS).json()["count"] == 0


# Positions --------------------------------------------------------------------------------


def test_a_perpetual_position_carries_mark_unrealised_pnl_and_liquidation_price(api, trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.2"), leverage=10))
    position = Position.objects.get(account=account, symbol=perp)

    response = api.get(POSITIONS)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["symbol"], row["side"], row["quantity"], row["leverage"], row["exchange"]) == (
        str(position.pk),
        "BTC/USDT:USDT",
        "long",
        "0.2",
        10,
        "SIM",
    )
    mark = Decimal(row["mark_price"])
    assert mark == marks_for([perp])[perp.pk]
    assert Decimal(row["unrealized_pnl"]) == ((mark - position.entry_price) * position.quantity).quantize(Decimal("0.00000001"))
    expected_liquidation = isolated_liquidation_price(
        quantity=position.quantity, entry_price=position.entry_price, leverage=10, maintenance_margin_rate=Decimal("0.005")
    )
    assert Decimal(row["liquidation_price"]) == perp.round_price(expected_liquidation)
    assert Decimal(row["liquidation_price"]) < position.entry_price
    assert Decimal(row["isolated_margin"]) == position.isolated_margin
    for name in ("quantity", "entry_price", "mark_price", "unrealized_pnl", "liquidation_price", "notional", "fees_paid"):
        assert isinstance(row[name], str), name


def test_a_spot_holding_has_no_liquidation_price(api, account, sim) -> None:
    PositionFactory(account=account, symbol=sim["ETH/USDT"], quantity=Decimal("2"), entry_price=Decimal("3000"))

    [row] = api.get(POSITIONS).json()["results"]

    assert row["symbol"] == "ETH/USDT" and row["liquidation_price"] is None and row["unrealized_pnl"] is not None


def test_positions_list_only_open_ones_unless_asked_and_filter(api, trader, account, sim) -> None:
    open_btc = PositionFactory(account=account, symbol=sim["BTC/USDT"])
    flat_eth = PositionFactory(account=account, symbol=sim["ETH/USDT"], quantity=Decimal(0))
    live_one = PositionFactory(account=TradingAccountFactory(owner=trader, live=True))
    ticker_stored(live_one.symbol, Decimal("61000"))  # Binance is not asked
    PositionFactory(symbol=sim["SOL/USDT"])  # someone else's

    def ids(**params) -> set[str]:
        return {p["id"] for p in api.get(POSITIONS, params).json()["results"]}

    assert ids() == {str(open_btc.pk), str(live_one.pk)}
    assert ids(include_closed="true") == {str(open_btc.pk), str(flat_eth.pk), str(live_one.pk)}
    assert ids(mode="paper") == {str(open_btc.pk)}
    assert ids(account=str(account.pk), include_closed="1", symbol="eth-usdt") == {str(flat_eth.pk)}


def test_positions_work_with_an_api_key(client: Client, trader, account, sim) -> None:
    PositionFactory(account=account, symbol=sim["BTC/USDT"])
    key = api_key_create(actor=trader, name="monitor")

    response = client.get(POSITIONS, headers=api_key_header(key.plaintext))

    assert response.status_code == 200 and response.json()["count"] == 1


# Closing ----------------------------------------------------------------------------------


@pytest.fixture
def perp_long(trader, account, sim) -> Position:
    order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT:USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.1"), leverage=5)
    )
    return Position.objects.get(account=account, symbol=sim["BTC/USDT:USDT"])


def test_closing_at_the_market_returns_the_filled_reduce_only_order(api, account, perp_long) -> None:
    response = api.post(f"{POSITIONS}{perp_long.pk}/close/")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["side"], body["order_type"], body["reduce_only"], body["quantity"], body["status"], body["source"]) == (
        "SELL",
        "MARKET",
        True,
        "0.1",
        "FILLED",
        "api",
    )
    perp_long.refresh_from_db()
    assert perp_long.quantity == 0
    assert Balance.objects.get(account=account, asset="USDT").locked == 0


def test_closing_with_a_price_places_a_limit(api, perp_long) -> None:
    price = str((current_book(perp_long.symbol).asks[0].price * Decimal("1.05")).quantize(Decimal("0.1")))

    response = api.post(f"{POSITIONS}{perp_long.pk}/close/", {"price": price})

    assert response.status_code == 201
    assert (response.json()["order_type"], Decimal(response.json()["price"]), response.json()["status"]) == ("LIMIT", Decimal(price), "OPEN")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"order_type": "MARKET", "price": "70000"}, "price"),
        ({"order_type": "LIMIT"}, "price"),
        ({"order_type": "STOP"}, "order_type"),
        ({"price": "x"}, "price"),
    ],
)
def test_a_bad_close_request_names_the_field_and_places_nothing(api, perp_long, body, field) -> None:
    before = Order.objects.count()

    response = api.post(f"{POSITIONS}{perp_long.pk}/close/", body)

    assert response.status_code == 400 and field in response.json()["extra"]["fields"]
    assert Order.objects.count() == before


def test_another_user_can_neither_see_nor_close_my_position(client: Client, perp_long) -> None:
    stranger = JsonApi(client, UserFactory())

    assert stranger.get(POSITIONS).json()["count"] == 0
    response = stranger.post(f"{POSITIONS}{perp_long.pk}/close/")
    assert response.status_code == 404 and response.json()["message"] == "No such position."
    perp_long.refresh_from_db()
    assert perp_long.quantity == Decimal("0.1")


def test_a_cross_positions_liquidation_price_counts_the_wallet_and_the_other_positions(api, trader, account, sim) -> None:  # type: ignore[no-untyped-def]
    btc, eth = sim["BTC/USDT:USDT"], sim["ETH/USDT:USDT"]
    for symbol, quantity in ((btc, "0.2"), (eth, "2")):
        request = OrderRequest(symbol=symbol, side="BUY", order_type="MARKET", quantity=Decimal(quantity), leverage=5, margin_mode="CROSS")
        order_submit(actor=trader, account=account, request=request)
    Balance.objects.filter(account=account, asset="USDT").update(free=Decimal(500))  # a thin wallet: liquidation is in reach
    position, other = Position.objects.get(account=account, symbol=btc), Position.objects.get(account=account, symbol=eth)
    btc_mark, eth_mark = position.entry_price + 50, other.entry_price - 20
    ticker_stored(btc, btc_mark)
    ticker_stored(eth, eth_mark)
    wallet = Balance.objects.get(account=account, asset="USDT").total
    expected = btc.round_price(
        cross_liquidation_price(
            quantity=position.quantity,
            entry_price=position.entry_price,
            maintenance_margin_rate=Decimal("0.005"),
            wallet_balance=wallet,
            other_unrealized_pnl=(eth_mark - other.entry_price) * other.quantity,
            other_maintenance_margin=maintenance_margin(abs(other.quantity) * eth_mark, Decimal("0.005")),
        )
    )

    rows = {row["symbol"]: row for row in api.get("/api/v1/positions/").json()["results"]}

    assert rows["BTC/USDT:USDT"]["margin_mode"] == "CROSS"
    assert Decimal(rows["BTC/USDT:USDT"]["liquidation_price"]) == expected
