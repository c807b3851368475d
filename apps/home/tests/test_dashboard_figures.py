"""The Dashboard's figures: equity, the 24 h change, P&L, open positions, today's trades and the
latest orders and trades, for the selected mode, checked against numbers worked out here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.home.dashboard import dashboard_figures
from apps.orders.models import Fill, Order
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import FillFactory, TradingAccountFactory, sim_markets, ticker_stored
from apps.portfolio.models import Balance, Position, TradingAccount

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Expected:
    equity: Decimal
    change_24h: Decimal
    change_24h_percent: Decimal
    total_realized: Decimal
    unrealized: Decimal
    open_positions: int
    trades_today: int
    volume_today: Decimal
    recent_orders: list[Order]  # newest first
    recent_fills: list[Fill]  # newest first


@pytest.fixture
def sim(db: None) -> dict[str, Symbol]:
    return sim_markets()


@pytest.fixture
def trader(db: None) -> User:
    return UserFactory()


@pytest.fixture
def account(trader: User, sim: dict[str, Symbol]) -> TradingAccount:
    return TradingAccountFactory(owner=trader, balances={"USDT": "100000"})


def _buy(trader: User, account: TradingAccount, symbol: Symbol, quantity: str, leverage: int = 1) -> Order:
    return order_submit(
        actor=trader,
        account=account,
        request=OrderRequest(symbol=symbol, side="BUY", order_type="MARKET", quantity=Decimal(quantity), leverage=leverage),
    )


def _old_fill(account: TradingAccount, symbol: Symbol, at: datetime, realized: str, fee: str) -> Fill:
    fill = FillFactory(order__account=account, order__symbol=symbol, executed_at=at, realized_pnl=Decimal(realized), fee=Decimal(fee))
    Order.objects.filter(pk=fill.order_id).update(created_at=at)
    return fill


@pytest.fixture
def scenario(trader: User, account: TradingAccount, sim: dict[str, Symbol]) -> Expected:
    """A perpetual long and a spot ETH buy today; a losing trade late yesterday (inside 24 h, not
    today); a winning trade three days ago; and trades that must not count (live mode, another user)."""
    now = datetime.now(UTC)
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - start_of_day > timedelta(hours=23, minutes=59):
        pytest.skip("too close to midnight UTC for a fill that is inside 24 h but not today")

    three_days_ago = _old_fill(account, sim["SOL/USDT"], now - timedelta(days=3), realized="120", fee="0.5")
    late_yesterday = _old_fill(account, sim["BTC/USDT"], start_of_day - timedelta(seconds=30), realized="-30", fee="0.2")
    perp_order = _buy(trader, account, sim["BTC/USDT:USDT"], "0.05", leverage=5)
    eth_order = _buy(trader, account, sim["ETH/USDT"], "0.5")
    live = TradingAccountFactory(owner=trader, live=True)
    FillFactory(order__account=live, realized_pnl=Decimal("1000"))  # live mode: not on the paper dashboard
    FillFactory(order__account=TradingAccountFactory(), order__symbol=sim["BTC/USDT"], realized_pnl=Decimal("500"))  # someone else's

    perp = Position.objects.get(account=account, symbol=sim["BTC/USDT:USDT"])
    eth = Position.objects.get(account=account, symbol=sim["ETH/USDT"])
    perp_mark = sim["BTC/USDT:USDT"].round_price(perp.entry_price * Decimal("1.02"))
    eth_mark = sim["ETH/USDT"].round_price(eth.entry_price * Decimal("0.97"))
    ticker_stored(perp.symbol, perp_mark)
    ticker_stored(eth.symbol, eth_mark)

    balances = {b.asset: b.free + b.locked for b in Balance.objects.filter(account=account)}
    assert set(balances) == {"USDT", "ETH"} and balances["ETH"] == Decimal("0.5")
    perp_pnl = (perp_mark - perp.entry_price) * Decimal("0.05")
    eth_pnl = (eth_mark - eth.entry_price) * Decimal("0.5")
    # Equity: cash, ETH at its mark, and the perpetual's open P&L (the spot P&L is in the ETH's value).
    equity = balances["USDT"] + Decimal("0.5") * eth_mark + perp_pnl
    today_fills = list(Fill.objects.filter(order__in=[perp_order, eth_order]))
    assert sum(f.quantity for f in today_fills if f.order_id == perp_order.pk) == Decimal("0.05")
    today_fees = perp_order.fees + eth_order.fees
    assert today_fees == sum(f.fee for f in today_fills) and today_fees > 0
    # Opening trades realise nothing; yesterday's loss is inside the 24 h, the older win is not.
    change = (Decimal("-30") - Decimal("0.2")) - today_fees + perp_pnl + eth_pnl
    return Expected(
        equity=equity.quantize(CENT),
        change_24h=change.quantize(CENT),
        change_24h_percent=(change / (equity - change) * 100).quantize(CENT),
        total_realized=(Decimal("120") - Decimal("0.5") + Decimal("-30") - Decimal("0.2") - today_fees).quantize(CENT),
        unrealized=(perp_pnl + eth_pnl).quantize(CENT),
        open_positions=2,
        trades_today=len(today_fills),
        volume_today=sum((f.price * f.quantity for f in today_fills), Decimal(0)).quantize(CENT),
        recent_orders=[eth_order, perp_order, late_yesterday.order, three_days_ago.order],
        recent_fills=[*sorted(today_fills, key=lambda f: f.executed_at, reverse=True), late_yesterday, three_days_ago],
    )


def test_dashboard_figures_add_up_for_the_paper_mode(trader, scenario: Expected) -> None:
    figures = dashboard_figures(actor=trader, mode="paper")

    assert figures.accounts == 1
    assert figures.equity == scenario.equity
    assert figures.unrealized == scenario.unrealized
    assert (figures.change_24h, figures.change_24h_percent) == (scenario.change_24h, scenario.change_24h_percent)
    assert figures.total_realized == scenario.total_realized
    assert len(figures.positions) == scenario.open_positions
    assert {row.position.symbol.symbol for row in figures.positions} == {"BTC/USDT:USDT", "ETH/USDT"}
    assert (figures.trades_today, figures.volume_today) == (scenario.trades_today, scenario.volume_today)
    assert [o.pk for o in figures.recent_orders] == [o.pk for o in scenario.recent_orders]
    assert [f.pk for f in figures.recent_fills] == [f.pk for f in scenario.recent_fills[:8]]


def test_the_dashboard_page_shows_the_figures(client: Client, trader, scenario: Expected) -> None:
    client.force_login(trader)

    page = client.get("/").content.decode()

    assert f'<p class="big-price" data-testid="equity">{scenario.equity}</p>' in page
    direction = "up" if scenario.change_24h > 0 else "down"
    assert f'<small class="{direction}">{scenario.change_24h} ({scenario.change_24h_percent} %) in 24 h</small>' in page
    assert f"Realised (net of fees) <strong>{scenario.total_realized}</strong>" in page
    assert f'Open <strong class="{"up" if scenario.unrealized > 0 else "down"}">{scenario.unrealized}</strong>' in page
    assert f'<header>Open positions</header><p class="big-price">{scenario.open_positions}</p>' in page
    assert f"<strong>{scenario.trades_today}</strong> trade{'s' if scenario.trades_today != 1 else ''}, volume {scenario.volume_today}" in page

    orders = page[page.index("<h2>Recent orders</h2>") : page.index("<h2>Recent trades</h2>")]
    symbols = re.findall(r"</small></td><td>([A-Z/:]+)</td>", orders)
    assert symbols == [o.symbol.symbol for o in scenario.recent_orders]
    assert '<td class="up">Buy</td><td class="num">0.05</td><td>Filled</td>' in orders

    trades = page[page.index("<h2>Recent trades</h2>") :]
    shown = re.findall(r"</small></td><td>([A-Z/:]+)</td>", trades)
    assert shown == [f.symbol.symbol for f in scenario.recent_fills[:8]]
    assert '<td class="num">0.01 @ 50000</td><td class="num down">-30</td>' in trades
    assert len(scenario.recent_fills) <= 8  # so the three-day-old win is still listed
    assert '<td class="num">0.01 @ 50000</td><td class="num up">120</td>' in trades


def test_the_live_mode_dashboard_counts_only_the_live_account(client: Client, trader, scenario: Expected) -> None:
    client.force_login(trader)
    client.post("/positions/mode/", {"mode": "live"})

    figures = dashboard_figures(actor=trader, mode="live")
    page = client.get("/").content.decode()

    assert figures.accounts == 1 and figures.positions == []
    assert figures.total_realized == Decimal("1000") - Decimal("0.25")  # the live fill, net of its fee
    assert f"Realised (net of fees) <strong>{figures.total_realized}</strong>" in page
    assert '<header>Open positions</header><p class="big-price">0</p>' in page
