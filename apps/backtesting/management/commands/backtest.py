"""manage.py backtest --strategy sma_cross --params '{"fast": 10, "slow": 30}' --csv data.csv [--market perpetual --leverage 3] [--json out.json]"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.backtesting.data import csv_bars, stored_bars
from apps.backtesting.services import MARGIN_MODES, MARKETS, BacktestSettings, backtest_execute, result_payload
from apps.core.api.params import datetime_param
from apps.core.domain.formatting import decimal_number, percent, whole_number
from apps.core.errors import ApplicationError
from apps.exchanges.domain.timeframes import TIMEFRAME_SECONDS, TIMEFRAMES
from apps.exchanges.selectors import exchange_get, symbol_get

METRIC_ROWS = [
    ("Total return", "total_return", "pct"),
    ("Annualised return", "annualised_return", "pct"),
    ("Sharpe", "sharpe", "num"),
    ("Sortino", "sortino", "num"),
    ("Volatility", "volatility", "pct"),
    ("Sharpe (per bar)", "sharpe_per_bar", "num"),
    ("Sortino (per bar)", "sortino_per_bar", "num"),
    ("Calmar", "calmar", "num"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Max drawdown duration (days)", "max_drawdown_duration_days", "num"),
    ("Trades", "trades", "int"),
    ("Win rate", "win_rate", "pct"),
    ("Profit factor", "profit_factor", "num"),
    ("Average win", "average_win", "num"),
    ("Average loss", "average_loss", "num"),
    ("Exposure", "exposure", "pct"),
    ("Buy and hold", "buy_and_hold_return", "pct"),
    ("Final equity", "final_equity", "num"),
    ("Refused orders", "refused_orders", "int"),
    ("Re-sized orders", "resized_orders", "int"),
    ("Liquidations", "liquidations", "int"),
    ("Liquidation losses", "liquidation_losses", "num"),
]


def _decimal(raw: str, name: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CommandError(f"--{name} {raw!r} is not a number") from None
    if not value.is_finite():
        raise CommandError(f"--{name} {raw!r} is not a number")
    return value


def _leverage(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CommandError(f"--leverage {raw!r} is not a whole number") from None
    return value


def _timeframe_of(bars: Any, options: dict[str, Any]) -> str:
    """The timeframe of a CSV's rows (their spacing), for a file given without --timeframe."""
    seconds = bars.bar_seconds()
    for name, length in TIMEFRAME_SECONDS.items():
        if length == seconds:
            return name
    raise CommandError(f"{options['csv']}: rows are {seconds:g} s apart, which is none of the timeframes {', '.join(TIMEFRAMES)}")


def _format(value: Any, kind: str) -> str:
    if kind == "pct":
        return percent(value)
    if kind == "int":
        return whole_number(value)
    return decimal_number(value, places=4)


class Command(BaseCommand):
    help = "Backtest a built-in strategy on a CSV file or on stored candles, with honest fills (next bar's open by default)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--params", default="{}", help="JSON object of strategy parameters")
        parser.add_argument("--csv", type=Path, help="timestamp (or date), open, high, low, close, volume; any case")
        parser.add_argument("--exchange")
        parser.add_argument("--symbol")
        parser.add_argument("--timeframe", choices=TIMEFRAMES, help="stored candles: default 1m; a CSV: found from its rows unless given")
        parser.add_argument("--start")
        parser.add_argument("--end")
        parser.add_argument("--capital", default="10000")
        parser.add_argument("--fee", default="0.001", help="taker and maker fee as a fraction (0.001 = 0.1 %%)")
        parser.add_argument("--slippage-bps", default="0")
        parser.add_argument("--fill", choices=["next_open", "close"], default="next_open")
        parser.add_argument("--market", choices=MARKETS, help="a CSV file: spot (default) or a linear perpetual; stored candles: their symbol's market")
        parser.add_argument("--leverage", default="1", help="perpetuals: 1 up to the symbol's maximum")
        parser.add_argument("--margin-mode", choices=MARGIN_MODES, default="isolated", help="perpetuals: what a liquidation takes")
        parser.add_argument("--json", type=Path, help="write metrics, trades and the equity curve here")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params {options['params']!r} is not JSON: {exc}") from None
        if not isinstance(params, dict):
            raise CommandError('--params must be a JSON object, e.g. \'{"fast": 10, "slow": 30}\'')
        fee = _decimal(options["fee"], "fee")
        with tqdm(total=100, desc="backtest", unit="%", file=self.stderr, leave=False) as bar:

            def advance(percent: int, note: str = "") -> None:
                bar.update(max(0, percent - bar.n))
                if note:
                    bar.set_postfix_str(note[:40])

            try:
                bars, symbol = self._bars(options)
                timeframe = options["timeframe"] or _timeframe_of(bars, options)
                advance(15, f"{len(bars):,} bars loaded")
                settings = BacktestSettings(
                    strategy=options["strategy"],
                    params=params,
                    timeframe=timeframe,
                    initial_capital=_decimal(options["capital"], "capital"),
                    maker_fee=fee,
                    taker_fee=fee,
                    slippage_bps=_decimal(options["slippage_bps"], "slippage-bps"),
                    fill_mode=options["fill"],
                    symbol=symbol,
                    market=options["market"],
                    leverage=_leverage(options["leverage"]),
                    margin_mode=options["margin_mode"],
                )
                result = backtest_execute(settings=settings, bars=bars, progress=advance)
                advance(90, "metrics")
                payload = result_payload(result)
                advance(100)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
        self._print(payload, result)
        if options["json"]:
            full = {
                **payload,
                "equity_curve": [[int(t), float(e)] for t, e in zip(result.data.time.astype("datetime64[ms]").astype("int64"), result.equity, strict=True)],
            }
            options["json"].write_text(json.dumps(full, indent=1))
            self.stdout.write(f"written: {options['json']}")

    def _bars(self, options: dict[str, Any]) -> tuple[Any, Any]:
        if options["csv"]:
            return csv_bars(options["csv"], options["timeframe"]), None
        if not (options["exchange"] and options["symbol"] and options["start"] and options["end"]):
            raise CommandError("give --csv FILE, or --exchange, --symbol, --timeframe, --start and --end for stored candles")
        exchange = exchange_get(code=options["exchange"])
        symbol = symbol_get(exchange=exchange, symbol=options["symbol"])
        start = datetime_param({"start": options["start"]}, "start")
        end = datetime_param({"end": options["end"]}, "end")
        assert start is not None and end is not None
        return stored_bars(symbol=symbol, timeframe=options["timeframe"] or "1m", start=start, end=end), symbol

    def _print(self, payload: dict[str, Any], result: Any) -> None:
        metrics = payload["metrics"]
        self.stdout.write(f"{result.strategy} {result.params} on {payload['bars']:,} bars ({metrics.get('path')} path)")
        width = max(len(label) for label, _, _ in METRIC_ROWS)
        for label, key, kind in METRIC_ROWS:
            self.stdout.write(f"  {label:<{width}}  {_format(metrics.get(key), kind):>16}")
        self.stdout.write(f"  annualisation: {metrics.get('annualisation')}")
        if metrics.get("warning"):
            self.stdout.write(self.style.WARNING(metrics["warning"]))
