"""What the Bots pages show of a paper bot that has traded: its card's P&L and position, and on its
page the orders it has resting and its figures, each checked against values computed from its fills."""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.test import Client

from apps.bots.models import Bot
from apps.bots.runner import bot_process_bar
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import BotFactory, set_book, store_bars, walk
from apps.exchanges.models import Symbol
from apps.orders.models import Fill, Order
from apps.strategies.domain.data import OHLCV

pytestmark = pytest.mark.django_db

CAPITAL = Decimal(10000)  # the paper account's USDT (conftest's `account`)
CENT = Decimal("0.01")


@pytest.fixture
def browser_client(client: Client, trader: Any) -> Client:
    client.force_login(trader)
    return client


@pytest.fixture
def market(sol: Symbol) -> OHLCV:
    """60 stored 1m bars of SOL/USDT (the history the bot starts with), and 20 more to feed it one by one."""
    data = walk(80, seed=7)
    store_bars(sol, data, range(60))
    set_book(sol, data.close[59])
    return data


def _price(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _two(value: Decimal) -> str:
    """As `floatformat:2` writes it (half up)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def _testid(fragment: str, testid: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', fragment, re.S)
    assert found, f"no {testid} in the fragment"
    return _text(found.group(2))


def _card(page: str, bot: Bot) -> str:
    found = re.search(rf'<article class="bot-card" id="bot-card-{bot.pk}".*?</article>', page, re.S)
    assert found, f"no card for {bot.name}"
    return found.group(0)


@dataclass
class Book:
    """The bot's book, worked out from its fills alone (spot: the fees are in USDT)."""

    quantity: Decimal
    entry_price: Decimal
    cash: Decimal
    realised_net: Decimal  # realised P&L less fees

    def equity(self, mark: Decimal) -> Decimal:
        return self.cash + self.quantity * mark


def book_from_fills(bot: Bot) -> Book:
    quantity, cost, realised, fees = Decimal(0), Decimal(0), Decimal(0), Decimal(0)
    cash = CAPITAL
    for fill in Fill.objects.filter(order__bot=bot).order_by("id"):
        assert fill.fee_currency == "USDT"
        fees += fill.fee
        if fill.side == "BUY":
            quantity += fill.quantity
            cost += fill.quantity * fill.price
            cash -= fill.quantity * fill.price + fill.fee
        else:
            average = cost / quantity
            realised += fill.quantity * (fill.price - average)
            cost -= fill.quantity * average
            quantity -= fill.quantity
            cash += fill.quantity * fill.price - fill.fee
    return Book(quantity, cost / quantity if quantity else Decimal(0), cash, realised - fees)


def _run(bot: Bot, data: OHLCV, bars: range, book_at: Any = None) -> None:
    for i in bars:
        store_bars(bot.symbol, data, [i])
        set_book(bot.symbol, book_at(i) if book_at else data.close[i])
        report = bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(i))
        assert report.processed == 1 and not report.errors


def test_the_card_of_a_running_bot_that_has_traded_shows_its_pnl_and_its_position(browser_client, trader, account, sol, market) -> None:
    """A DCA bot buying 100 USDT every other bar, each at 1 % under the close; the last bar places
    nothing, so every fill it has made is in its book when the page is drawn."""
    bot = bot_create(
        actor=trader,
        name="dca every other bar",
        account=account,
        symbol=sol,
        timeframe="1m",
        strategy="dca",
        params={"trigger": "periodic", "interval": 2, "order_quote": 100.0, "max_safety_orders": 0, "take_profit_percent": 50.0},
    )
    bot_start(actor=trader, bot_id=bot.pk)
    idle = BotFactory(owner=trader, account=account, name="never started")
    _run(bot, market, range(60, 64), book_at=lambda i: (_price(market.close[i]) * Decimal("0.99")).quantize(CENT))

    fills = list(Fill.objects.filter(order__bot=bot))
    assert len(fills) == 2 and all(f.side == "BUY" for f in fills)  # the buys at bars 60 and 62
    book = book_from_fills(bot)
    mark = _price(market.close[63])
    pnl = book.equity(mark) - CAPITAL
    assert pnl > 0  # bought 1 % under the market

    page = browser_client.get("/bots/").content.decode()

    card = _card(page, bot)
    assert 'data-status="RUNNING"' in card
    assert _testid(card, "bot-pnl") == f"{_two(pnl)} USDT ({_two(pnl / CAPITAL * 100)} %)"
    assert re.search(r'<dd class="up" data-testid="bot-pnl">', card)  # a gain is shown as one
    assert _testid(card, "bot-position") == f"{_plain(book.quantity)} SOL @ {_two(book.entry_price)}"
    assert re.search(r'<dd class="last-signal">take-profit for [0-9.]+ at ', card)  # its last signal: the take-profit after the second buy
    other = _card(page, idle)
    assert _testid(other, "bot-pnl") == "–" and _testid(other, "bot-position") == "flat"


DCA_WITH_SAFETY_ORDERS = {
    "trigger": "periodic",
    "interval": 1000,  # one deal: a base buy at the first bar, then what rests
    "order_quote": 300.0,
    "max_safety_orders": 3,
    "step_percent": 1.0,
    "volume_multiplier": 1.5,
    "take_profit_percent": 1.0,
}


def _open_order_rows(page: str) -> dict[str, str]:
    table = re.search(r'<table data-testid="bot-open-orders">.*?</table>', page, re.S)
    assert table
    return {row_id: _text(row) for row_id, row in re.findall(r'<tr id="bot-order-([0-9a-f-]+)">(.*?)</tr>', table.group(0), re.S)}


def _metric(page: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert found, f"no {label} on the page"
    return _text(found.group(1))


def test_the_bot_page_lists_its_resting_orders_and_shows_its_figures(browser_client, trader, account, sol, market) -> None:
    bot = bot_create(actor=trader, name="dca deal", account=account, symbol=sol, timeframe="1m", strategy="dca", params=DCA_WITH_SAFETY_ORDERS)
    bot_start(actor=trader, bot_id=bot.pk)
    _run(bot, market, range(60, 72))

    resting = list(Order.objects.filter(bot=bot, status__in=["NEW", "OPEN", "PARTIALLY_FILLED"]).order_by("price"))
    assert {o.order_type for o in resting} == {"LIMIT"}
    buys = [o for o in resting if o.side == "BUY"]
    sells = [o for o in resting if o.side == "SELL"]
    assert buys and len(sells) == 1  # safety orders below, one take-profit above
    assert Fill.objects.filter(order__bot=bot).count() == 2  # the base buy and the first safety order
    replaced = Order.objects.get(bot=bot, side="SELL", status="CANCELED")  # the take-profit before the safety fill
    book = book_from_fills(bot)
    assert book.quantity > 0
    assert sells[0].quantity == book.quantity  # the take-profit sells the whole position...
    take_profit = book.entry_price * Decimal("1.01")
    assert abs(sells[0].price - take_profit) <= sol.tick_size  # ...at 1 % over its average entry

    page = browser_client.get(f"/bots/{bot.pk}/").content.decode()

    rows = _open_order_rows(page)
    assert set(rows) == {str(o.pk) for o in resting}  # every resting order, and nothing that has ended
    assert str(replaced.pk) not in rows
    for order in resting:
        text = rows[str(order.pk)]
        side = "Buy" if order.side == "BUY" else "Sell"
        assert f"{side} Limit {_plain(order.price)} {_plain(order.filled_quantity)} / {_plain(order.quantity)} " in f"{text} "
    mark = _price(market.close[71])
    equity = book.equity(mark)
    pnl = equity - CAPITAL
    assert _metric(page, "Equity") == f"{_two(equity)} USDT"
    assert _metric(page, "P&amp;L") == f"{_two(pnl)} USDT ({_two(pnl / CAPITAL * 100)} %)"
    assert _metric(page, "Realised (net of fees)") == f"{_two(book.realised_net)} USDT"
    assert _metric(page, "Position") == f"{_plain(book.quantity)} SOL @ {_two(book.entry_price)}"
    assert _metric(page, "Working orders") == str(len(resting))
    assert _metric(page, "Last bar") == market.datetime_at(71).strftime("%Y-%m-%d %H:%M")
    # The drawdown shown is the fall of the last point of the equity curve shown from its highest point.
    curve = json.loads(html_lib.unescape(re.search(r'<script id="bot-equity-data" type="application/json">(.*?)</script>', page, re.S).group(1)))
    assert len(curve) == 12 and curve[-1][1] == pytest.approx(float(equity))
    peak = max(value for _, value in curve)
    drawdown = (Decimal(repr(peak)) - equity) / Decimal(repr(peak)) * 100
    assert _metric(page, "Drawdown") == f"{_two(max(drawdown, Decimal(0)))} %"
