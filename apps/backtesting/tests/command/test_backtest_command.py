"""manage.py backtest: a CSV file or stored candles in, a metrics table (and a JSON file) out; bad input is one line naming it."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.backtesting.tests.factories import START, seed_candles, wave_candles, write_csv
from apps.exchanges.domain.types import Candle
from apps.exchanges.tests.factories import SymbolFactory

SMA = '{"fast": 10, "slow": 30, "mode": "long_only"}'


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        _run(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "prices.csv", wave_candles(count=400))


def test_a_csv_backtest_prints_the_metrics_table_and_writes_metrics_trades_and_the_equity_curve(prices: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"

    printed = _run("--strategy", "sma_cross", "--params", SMA, "--csv", str(prices), "--json", str(out))

    assert "sma_cross" in printed and "on 400 bars" in printed
    for label in ("Total return", "Annualised return", "Sharpe", "Sortino", "Calmar", "Max drawdown", "Win rate", "Profit factor", "Exposure", "Buy and hold"):
        assert label in printed, label
    assert "annualisation: 365 days, 525600 periods per year" in printed
    result = json.loads(out.read_text())
    assert len(result["equity_curve"]) == 400 and result["bars"] == 400
    assert result["metrics"]["trades"] > 0 and len(result["trades"]) >= result["metrics"]["trades"]
    assert result["metrics"]["final_equity"] == pytest.approx(result["equity_curve"][-1][1])


def test_the_timeframe_of_a_csv_is_found_from_its_rows(tmp_path: Path) -> None:
    hourly = write_csv(tmp_path / "hourly.csv", wave_candles(count=200, timeframe="1h"), header="Date,Open,High,Low,Close,Volume")

    printed = _run("--strategy", "sma_cross", "--params", SMA, "--csv", str(hourly))

    assert "8760 periods per year" in printed


@pytest.mark.django_db
def test_a_backtest_of_stored_candles(tmp_path: Path) -> None:
    symbol = SymbolFactory(symbol="BTC/USDT")
    seed_candles(symbol, count=300)
    end = (START + timedelta(minutes=300)).isoformat()

    printed = _run(
        "--strategy", "sma_cross", "--params", SMA, "--exchange", "SIM", "--symbol", "BTC/USDT", "--timeframe", "1m", "--start", START.isoformat(), "--end", end
    )

    assert "on 300 bars" in printed and "Total return" in printed


def _csv_with(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "bad.csv", wave_candles(count=100))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def test_an_unknown_strategy_is_named(prices: Path) -> None:
    assert "no strategy named 'moon'" in _refused("--strategy", "moon", "--csv", str(prices))


@pytest.mark.parametrize(("params", "words"), [("{fast: 10}", "--params '{fast: 10}' is not JSON"), ("[10, 30]", "must be a JSON object")])
def test_params_that_are_not_a_json_object_are_refused(prices: Path, params: str, words: str) -> None:
    assert words in _refused("--strategy", "sma_cross", "--params", params, "--csv", str(prices))


def test_a_parameter_out_of_range_is_named(prices: Path) -> None:
    assert _refused("--strategy", "sma_cross", "--params", '{"fast": 0}', "--csv", str(prices)) == "fast: must be at least 1"


def test_a_csv_with_a_gap_names_the_line_and_the_times(tmp_path: Path) -> None:
    path = _csv_with(tmp_path, lambda lines: lines[:51] + lines[53:])

    message = _refused("--strategy", "sma_cross", "--csv", str(path), "--timeframe", "1m")

    assert ":52: a gap: 2025-01-06 00:49:00+00:00 is followed by 2025-01-06 00:52:00+00:00" in message


def test_unsorted_rows_are_refused_naming_the_line(tmp_path: Path) -> None:
    path = _csv_with(tmp_path, lambda lines: [lines[0], *lines[1:10], lines[11], lines[10], *lines[12:]])

    assert ":12: rows are not in increasing time order" in _refused("--strategy", "sma_cross", "--csv", str(path))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda lines: [*lines[:20], lines[20].replace(lines[20].split(",")[4], "n/a", 1), *lines[21:]], ":21: close 'n/a' is not a number"),
        (lambda lines: [*lines[:20], lines[20].replace(lines[20].split(",")[1], "inf", 1), *lines[21:]], ":21: open 'inf' is not a number"),
        (lambda lines: [*lines[:5], "yesterday" + lines[5][25:], *lines[6:]], ":6: timestamp 'yesterday' is not a date/time"),
    ],
)
def test_garbage_values_are_refused_naming_the_line_and_the_value(tmp_path: Path, edit, words: str) -> None:
    assert words in _refused("--strategy", "sma_cross", "--csv", str(_csv_with(tmp_path, edit)))


def test_epoch_millisecond_timestamps_are_read_and_an_empty_one_is_named(tmp_path: Path) -> None:
    candles = wave_candles(count=100)
    lines = ["timestamp,open,high,low,close,volume"] + [
        f"{int(c.open_time.timestamp() * 1000)},{c.open},{c.high},{c.low},{c.close},{c.volume}" for c in candles
    ]
    good = tmp_path / "epoch.csv"
    good.write_text("\n".join(lines) + "\n")
    bad = tmp_path / "hole.csv"
    bad.write_text("\n".join([*lines[:30], "," + lines[30].split(",", 1)[1], *lines[31:]]) + "\n")

    assert "on 100 bars" in _run("--strategy", "sma_cross", "--params", SMA, "--csv", str(good))
    assert "hole.csv:31: timestamp '' is not a date/time" in _refused("--strategy", "sma_cross", "--csv", str(bad))


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _csv_with(tmp_path, lambda lines: [",".join(line.split(",")[:5]) for line in lines])

    assert "missing column(s) volume" in _refused("--strategy", "sma_cross", "--csv", str(path))


def test_an_empty_file_a_short_file_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    short = write_csv(tmp_path / "short.csv", wave_candles(count=20))

    assert "empty.csv is not a readable CSV file" in _refused("--strategy", "sma_cross", "--csv", str(empty))
    assert "short.csv has 20 rows; a backtest needs at least 50" in _refused("--strategy", "sma_cross", "--csv", str(short))
    assert "no such file" in _refused("--strategy", "sma_cross", "--csv", str(tmp_path / "nope.csv"))


@pytest.mark.django_db
def test_an_empty_stored_range_says_how_many_candles_there_are() -> None:
    SymbolFactory(symbol="BTC/USDT")

    message = _refused("--strategy", "sma_cross", "--exchange", "SIM", "--symbol", "BTC/USDT", "--start", "2025-01-06T00:00", "--end", "2025-01-07T00:00")

    assert "has 0 stored 1m candles between 2025-01-06 00:00 and 2025-01-07 00:00" in message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--exchange", "MOON", "--symbol", "BTC/USDT", "--start", "2025-01-06", "--end", "2025-01-07"], "Unknown exchange 'MOON'"),
        (["--exchange", "SIM", "--symbol", "DOGE/EUR", "--start", "2025-01-06", "--end", "2025-01-07"], "Unknown symbol 'DOGE/EUR' on SIM"),
        (["--exchange", "SIM", "--symbol", "BTC/USDT", "--start", "soon", "--end", "2025-01-07"], "start 'soon' is not a date/time"),
        (["--exchange", "SIM", "--symbol", "BTC/USDT", "--start", "2025-01-07", "--end", "2025-01-06"], "is not before the end"),
        (["--exchange", "SIM"], "give --csv FILE, or --exchange"),
    ],
)
def test_bad_stored_candle_options_are_named(args: list[str], words: str) -> None:
    SymbolFactory(symbol="BTC/USDT")

    assert words in _refused("--strategy", "sma_cross", *args)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--capital", "lots"], "--capital 'lots' is not a number"),
        (["--capital", "-5"], "initial capital must be positive, not -5"),
        (["--fee", "0.5"], "outside -1 %..5 %"),
    ],
)
def test_bad_money_options_are_named(prices: Path, args: list[str], words: str) -> None:
    assert words in _refused("--strategy", "sma_cross", "--csv", str(prices), *args)


def test_an_unknown_timeframe_is_refused(prices: Path) -> None:
    assert "invalid choice: '2m'" in _refused("--strategy", "sma_cross", "--csv", str(prices), "--timeframe", "2m")


def _gapped(candles: list[Candle], gap: Decimal) -> list[Candle]:
    """Every bar opens `gap` above the previous close, so filling at the close and at the next open differ."""
    return [replace(c, open=c.open + gap, high=max(c.high, c.open + gap)) for c in candles]


def _first_trade(*args: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path / "result.json"
    _run("--strategy", "sma_cross", "--params", SMA, "--json", str(out), *args)
    result = json.loads(out.read_text())
    return result["trades"][0], result


def test_fills_go_to_the_next_open_by_default_or_to_the_decision_bars_close(tmp_path: Path) -> None:
    candles = _gapped(wave_candles(count=400), Decimal("0.50"))
    prices = write_csv(tmp_path / "gapped.csv", candles)
    by_open = {c.open_time: c for c in candles}

    at_open, _ = _first_trade("--csv", str(prices), tmp_path=tmp_path)
    at_close, _ = _first_trade("--csv", str(prices), "--fill", "close", tmp_path=tmp_path)

    entry_bar = by_open[datetime.fromisoformat(at_open["entry_time"])]
    decision_bar = by_open[entry_bar.open_time - timedelta(minutes=1)]
    assert Decimal(at_open["entry_price"]) == entry_bar.open
    assert Decimal(at_close["entry_price"]) == decision_bar.close
    assert Decimal(at_open["entry_price"]) - Decimal(at_close["entry_price"]) == Decimal("0.50")


def test_slippage_fee_and_capital_options_change_the_fills(prices: Path, tmp_path: Path) -> None:
    plain, plain_result = _first_trade("--csv", str(prices), tmp_path=tmp_path)
    slipped, _ = _first_trade("--csv", str(prices), "--slippage-bps", "100", tmp_path=tmp_path)
    costly, costly_result = _first_trade("--csv", str(prices), "--fee", "0.002", "--capital", "5000", tmp_path=tmp_path)

    tick = Decimal("0.01")
    assert Decimal(slipped["entry_price"]) == (Decimal(plain["entry_price"]) * Decimal("1.01")).quantize(tick)  # a buy pays up
    assert Decimal(slipped["exit_price"]) == (Decimal(plain["exit_price"]) * Decimal("0.99")).quantize(tick)  # a sell gets less
    assert plain_result["metrics"]["initial_capital"] == 10_000 and costly_result["metrics"]["initial_capital"] == 5_000
    assert costly_result["equity_curve"][0][1] == 5_000
    quantity = Decimal(costly["quantity"])
    assert quantity == pytest.approx(Decimal(plain["quantity"]) / 2, rel=Decimal("1e-6"))
    turnover = quantity * (Decimal(costly["entry_price"]) + Decimal(costly["exit_price"]))
    assert Decimal(costly["fees"]) == pytest.approx(turnover * Decimal("0.002"), rel=Decimal("1e-9"))


LONG_SHORT = '{"fast": 10, "slow": 30, "mode": "long_short"}'


def test_a_csv_runs_as_spot_by_default_and_says_how_many_orders_were_refused(prices: Path, tmp_path: Path) -> None:
    out = tmp_path / "spot.json"

    printed = _run("--strategy", "sma_cross", "--params", LONG_SHORT, "--csv", str(prices), "--json", str(out))

    metrics = json.loads(out.read_text())["metrics"]
    refused = metrics["refusals_by_reason"]["refused: spot: cannot sell more than is held"]
    assert refused > 0 and metrics["refused_orders"] == refused
    assert f"Warning: {refused} refused: spot: cannot sell more than is held" in printed
    assert len(metrics["order_refusals"]) == refused and metrics["order_refusals"][0]["reason"] == "spot: cannot sell more than is held"


def test_market_perpetual_runs_a_csv_long_and_short_with_leverage(prices: Path, tmp_path: Path) -> None:
    out = tmp_path / "perp.json"

    printed = _run(
        "--strategy", "sma_cross", "--params", LONG_SHORT, "--csv", str(prices), "--market", "perpetual", "--leverage", "3", "--margin-mode", "cross",
        "--json", str(out),
    )  # fmt: skip

    result = json.loads(out.read_text())
    assert {trade["side"] for trade in result["trades"]} == {"LONG", "SHORT"}
    assert result["metrics"]["refused_orders"] == 0 and result["metrics"]["warning"] is None
    assert "Warning" not in printed and "Liquidations" in printed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--market", "perpetual", "--leverage", "200"], "Leverage 200 is outside BTC/USDT:USDT's range 1..125"),
        (["--market", "perpetual", "--leverage", "0"], "Leverage 0 is outside"),
        (["--market", "perpetual", "--leverage", "x"], "--leverage 'x' is not a whole number"),
        (["--leverage", "3"], "Leverage 3 needs a perpetual market"),
        (["--params", '{"fraction": 1.5}'], "fraction 1.5 is above 1: spot (no leverage)"),
        (["--market", "perpetual", "--leverage", "2", "--params", '{"fraction": 2.5}'], "fraction 2.5 is above 2: 2x leverage"),
        (["--capital", "0"], "The initial capital must be positive, not 0"),
        (["--market", "futures"], "invalid choice: 'futures'"),
    ],
)
def test_bad_market_options_are_named(prices: Path, args: list[str], words: str) -> None:
    assert words in _refused("--strategy", "sma_cross", "--csv", str(prices), *args)


@pytest.mark.django_db
def test_stored_candles_trade_the_symbols_market_and_a_contradicting_market_is_named(tmp_path: Path) -> None:
    symbol = SymbolFactory(symbol="ETH/USDT:USDT", max_leverage=20)
    seed_candles(symbol, count=400)
    end = (START + timedelta(minutes=400)).isoformat()
    stored = ["--exchange", symbol.exchange.code, "--symbol", symbol.symbol, "--start", START.isoformat(), "--end", end]
    out = tmp_path / "stored.json"

    _run("--strategy", "sma_cross", "--params", LONG_SHORT, *stored, "--leverage", "5", "--json", str(out))

    assert {trade["side"] for trade in json.loads(out.read_text())["trades"]} == {"LONG", "SHORT"}
    assert "Leverage 21 is outside ETH/USDT:USDT's range 1..20" in _refused("--strategy", "sma_cross", *stored, "--leverage", "21")
    assert "Market spot does not match ETH/USDT:USDT, which is a perpetual" in _refused("--strategy", "sma_cross", *stored, "--market", "spot")


@pytest.mark.django_db
def test_stored_candles_with_a_gap_run_and_the_command_warns_about_it(tmp_path: Path) -> None:
    from apps.market.services.candles import candles_upsert

    symbol = SymbolFactory(symbol="SOL/USDT")
    candles = wave_candles(count=400)
    candles_upsert(symbol=symbol, timeframe="1m", candles=candles[:200] + candles[260:])
    end = (START + timedelta(minutes=400)).isoformat()
    out = tmp_path / "gapped.json"

    printed = _run(
        "--strategy", "sma_cross", "--params", SMA, "--exchange", symbol.exchange.code, "--symbol", "SOL/USDT", "--start", START.isoformat(), "--end", end,
        "--json", str(out),
    )  # fmt: skip

    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["bars"] == 340 and metrics["gaps"] == 1 and metrics["calendar_days"] == pytest.approx(400 / 1440)
    assert "1 gap in the candles (the largest 61 min): returns are annualised over calendar time" in printed
