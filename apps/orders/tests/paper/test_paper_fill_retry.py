"""A resting paper order whose fill the database refuses once is filled on the next sync, not left open with its money held."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.services.market_inputs import current_book
from apps.orders.services.paper import PaperMatcher
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.models import Balance
from apps.portfolio.services import paper_account_create

pytestmark = pytest.mark.django_db(transaction=True)


def _hold_balance_rows_and_cancel_the_waiter(account_id: object, waiter_pid: int, release: threading.Event, done: threading.Event) -> None:
    """Lock the account's balance rows (as a concurrent bot would), cancel the statement that waits for them, hold until released."""
    other = connections["default"]  # this thread's own connection
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"SELECT 1 FROM {Balance._meta.db_table} WHERE account_id = %s FOR UPDATE", [account_id])
            done.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", [waiter_pid])
                if cursor.fetchone()[0]:
                    cursor.execute("SELECT pg_cancel_backend(%s)", [waiter_pid])
                    break
                time.sleep(0.02)
            release.wait(10)
            cursor.execute("ROLLBACK")
    finally:
        other.close()


def test_a_fill_the_database_refused_once_is_stored_at_the_next_sync() -> None:
    sim_symbols_prepare()
    user = UserFactory()
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": "100000"})
    btc = Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT")
    limit = btc.round_price(current_book(btc).best_bid * Decimal("0.99"), "down")
    order = order_submit(actor=user, account=account, request=OrderRequest(symbol=btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=limit))
    matcher = PaperMatcher()
    matcher.sync([btc.pk])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        our_pid = cursor.fetchone()[0]

    release, locked = threading.Event(), threading.Event()
    locker = threading.Thread(target=_hold_balance_rows_and_cancel_the_waiter, args=(account.pk, our_pid, release, locked))
    locker.start()
    try:
        assert locked.wait(10)
        fills = matcher.on_trade(btc, limit - btc.tick_size, Decimal("1"), datetime.now(UTC))  # the fill's statement is cancelled
    finally:
        release.set()
        locker.join(15)

    assert fills == 0
    order.refresh_from_db()
    assert order.status == "OPEN"  # nothing was stored: the fill rolled back

    matcher.sync([btc.pk])

    order.refresh_from_db()
    assert order.status == "FILLED"
    assert order.average_price == limit
    assert order.locked_amount == 0
    assert Balance.objects.get(account=account, asset="BTC").free == Decimal("0.01")
    assert Balance.objects.get(account=account, asset="USDT").locked == 0
    assert matcher.retries == {}
