"""CSV exports of a finished backtest's trades and equity curve."""

from __future__ import annotations

import csv
import io

import pytest

from apps.backtesting.services import equity_csv, trades_csv
from apps.backtesting.tests.factories import BacktestFactory

pytestmark = pytest.mark.django_db


def test_the_trades_csv_has_a_header_and_one_row_per_trade() -> None:
    backtest = BacktestFactory()

    rows = list(csv.DictReader(io.StringIO(trades_csv(backtest))))

    assert len(rows) == 2
    assert list(rows[0]) == ["side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "fees", "funding", "pnl"]
    assert (rows[0]["side"], rows[0]["entry_price"], rows[0]["pnl"]) == ("LONG", "100.5", "0.2")
    assert (rows[1]["side"], rows[1]["pnl"]) == ("SHORT", "-0.25")


def test_an_open_trade_has_an_empty_exit_time() -> None:
    backtest = BacktestFactory(
        trades=[{"side": "LONG", "entry_time": "2025-01-06T00:05:00+00:00", "exit_time": None, "quantity": "1", "pnl": "0", "open": True}]
    )

    rows = list(csv.DictReader(io.StringIO(trades_csv(backtest))))

    assert rows[0]["exit_time"] == "" and rows[0]["exit_price"] == ""


def test_the_equity_csv_has_an_iso_timestamp_and_the_equity_of_every_stored_point() -> None:
    backtest = BacktestFactory()

    lines = equity_csv(backtest).splitlines()

    assert lines[0] == "timestamp,equity"
    assert len(lines) == 1 + len(backtest.equity_curve)
    assert lines[1] == "2025-01-06T00:00:00+00:00,10000.0"
    assert lines[-1].startswith("2025-01-06T01:39:00+00:00,")
