"""Backtest throughput: our engine against backtesting.py on the same bars, and a 100-pair parameter sweep.

Data: 1,000,000 one-minute bars of a seeded geometric random walk on a 0.01 tick.
Strategy: `sma_cross` 10/30 long/short, one unit per position (so sizes compare exactly;
backtesting.py trades whole units), 0.1 % fee on every fill, no slippage, market orders
filled at the next bar's open (backtesting.py: commission=0.001, trade_on_close=False,
exclusive_orders=True). backtesting.py's strategy applies the same rule (the sign of
fast - slow, a tie keeps the regime, a trade on each change of a known regime) on the same
SMA arrays, so both must make the same trades: entry/exit bars and prices (and P&L) are
compared one by one.

Then 100 (fast, slow) pairs on 100,000 bars (same generator and seed), run sequentially in-process, against
backtesting.py's `Backtest.optimize` over the same grid (it may use several processes).

Then vectorbt's `Portfolio.from_signals` on the same signals (our strategy's own `signals()`,
acted on at the next bar's open, one unit, reversing on an opposite signal), its trades
compared the same way, and vectorbt broadcasting over the same 100 pairs at once.

Figures are wall-clock and CPU seconds of this process, the best of a few runs (the machine
may be shared; backtesting.py's optimiser runs in worker processes, so only its wall time
means something). The 10-million-iteration loop and the load average are printed first: they
say how fast this machine was during the run. backtesting.py and vectorbt are benchmark-only
dependencies, never installed into the project's environment: install them into a separate
one and put its site-packages on PYTHONPATH for the run, for example
`python -m venv /tmp/benchvenv`, a `.pth` file in its site-packages naming the project venv's
site-packages (so numpy and pandas are the project's), `/tmp/benchvenv/bin/pip install
backtesting vectorbt`, then `PYTHONPATH=/tmp/benchvenv/lib/python3.11/site-packages make
bench BENCH=backtest`. Without them the comparisons are skipped.
"""

from __future__ import annotations

import math
import time
import warnings
from decimal import Decimal
from typing import Any

import numpy as np

from apps.backtesting.domain.engine import BacktestConfig, BacktestResult, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.strategies.domain import indicators as ind
from apps.strategies.domain.data import OHLCV
from apps.strategies.domain.registry import create_strategy

BARS = 1_000_000
SWEEP_BARS = 100_000
FAST, SLOW = 10, 30
FEE = Decimal("0.001")
SEED = 42
TARGET_BARS_PER_SECOND = 1_000_000
TARGET_RATIO = 8.0
OUR_REPEATS = 3  # best of: the machine may be shared
THEIR_REPEATS = 2
SWEEP_FAST = list(range(2, 21, 2))
SWEEP_SLOW = list(range(25, 251, 25))


def make_bars(n: int, seed: int = SEED) -> OHLCV:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n))), 2)
    previous = np.concatenate(([100.0], close[:-1]))
    open_ = np.round(previous * np.exp(rng.normal(0.0, 0.0001, n)), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.0002, n))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.0002, n))), 2)
    times = np.datetime64("2024-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(1, "m")
    return OHLCV.from_arrays(times, open_, high, low, close, rng.uniform(1.0, 10.0, n))


def config() -> BacktestConfig:
    return BacktestConfig(
        initial_capital=Decimal(1_000_000),
        maker_fee=FEE,
        taker_fee=FEE,
        slippage_bps=Decimal(0),
        fill_at="next_open",
        market_type=MarketType.LINEAR_PERPETUAL,
    )


def ours(data: OHLCV, fast: int, slow: int) -> tuple[BacktestResult, float, float]:
    strategy = create_strategy("sma_cross", {"fast": fast, "slow": slow, "mode": "long_short", "sizing": "quantity", "quantity": 1})
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_backtest(strategy, data, config())
    return result, time.perf_counter() - wall, time.process_time() - cpu


# -- backtesting.py ------------------------------------------------------------------------------


def _bt_frame(data: OHLCV) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {"Open": data.open, "High": data.high, "Low": data.low, "Close": data.close, "Volume": data.volume},
        index=pd.DatetimeIndex(data.time),
    )


def _quiet_backtesting() -> None:
    """No progress bars from backtesting.py (it uses tqdm when installed)."""
    import backtesting.backtesting as bt_module

    bt_module._tqdm = lambda seq, **_: seq  # type: ignore[attr-defined]


def _bt_strategy() -> Any:
    """backtesting.py's version of the rule, created once and kept at module level (its optimiser pickles it)."""
    existing = globals().get("SmaCrossBt")
    if existing is not None:
        return existing
    from backtesting import Strategy

    class SmaCrossBt(Strategy):  # type: ignore[misc]
        fast = FAST
        slow = SLOW

        def init(self) -> None:
            self.f = self.I(ind.sma, self.data.Close, self.fast)
            self.s = self.I(ind.sma, self.data.Close, self.slow)
            self.regime: int | None = None

        def next(self) -> None:
            if self.regime is None:  # first call: the regime of the previous bar (the first with both averages)
                before = self.f[-2] - self.s[-2]
                self.regime = 0 if math.isnan(before) or before == 0 else (1 if before > 0 else -1)
            diff = self.f[-1] - self.s[-1]
            if math.isnan(diff) or diff == 0:
                return
            regime = 1 if diff > 0 else -1
            if regime == self.regime:
                return
            previous, self.regime = self.regime, regime
            if previous == 0:
                return
            if regime > 0:
                self.buy(size=1)
            else:
                self.sell(size=1)

    SmaCrossBt.__qualname__ = "SmaCrossBt"
    SmaCrossBt.__module__ = __name__
    globals()["SmaCrossBt"] = SmaCrossBt
    return SmaCrossBt


def theirs(data: OHLCV) -> tuple[Any, float, float]:
    from backtesting import Backtest

    bt = Backtest(_bt_frame(data), _bt_strategy(), cash=1_000_000, commission=float(FEE), trade_on_close=False, exclusive_orders=True, finalize_trades=False)
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return stats, time.perf_counter() - wall, time.process_time() - cpu


def compare_trades(result: BacktestResult, stats: Any) -> tuple[int, int, int, list[str]]:
    """(matched, ours, theirs, first differences): entry/exit bar and price, side, P&L to 1e-6."""
    bt = stats["_trades"]
    theirs_rows = list(
        zip(
            bt["EntryBar"].tolist(),
            bt["ExitBar"].tolist(),
            bt["EntryPrice"].tolist(),
            bt["ExitPrice"].tolist(),
            bt["Size"].tolist(),
            bt["PnL"].tolist(),
            strict=True,
        )
    )
    matched = 0
    differences: list[str] = []
    for index, (trade, row) in enumerate(zip(result.trades, theirs_rows, strict=False)):
        entry_bar, exit_bar, entry_price, exit_price, size, pnl = row
        side = "LONG" if size > 0 else "SHORT"
        same = (
            trade.entry_bar == entry_bar
            and trade.exit_bar == exit_bar
            and float(trade.entry_price) == entry_price
            and float(trade.exit_price or 0) == exit_price
            and trade.side == side
            and float(trade.quantity) == abs(size)
            and abs(float(trade.pnl) - pnl) < 1e-6
        )
        if same:
            matched += 1
        elif len(differences) < 5:
            differences.append(
                f"#{index}: ours {trade.side} {trade.entry_bar}->{trade.exit_bar} {trade.entry_price}->{trade.exit_price} pnl {trade.pnl}; theirs {row}"
            )
    return matched, len(result.trades), len(theirs_rows), differences


def sweep_ours(data: OHLCV) -> tuple[float, float, tuple[int, int], float]:
    best: tuple[float, tuple[int, int]] = (-math.inf, (0, 0))
    wall, cpu = time.perf_counter(), time.process_time()
    for fast in SWEEP_FAST:
        for slow in SWEEP_SLOW:
            result, _, _ = ours(data, fast, slow)
            final = float(result.equity[-1])
            if final > best[0]:
                best = (final, (fast, slow))
    return time.perf_counter() - wall, time.process_time() - cpu, best[1], best[0]


def sweep_theirs(data: OHLCV) -> tuple[float, tuple[int, int], float]:
    from backtesting import Backtest

    bt = Backtest(_bt_frame(data), _bt_strategy(), cash=1_000_000, commission=float(FEE), trade_on_close=False, exclusive_orders=True)
    wall = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.optimize(fast=SWEEP_FAST, slow=SWEEP_SLOW, maximize="Equity Final [$]", method="grid", return_heatmap=False)
    strategy = stats["_strategy"]
    return time.perf_counter() - wall, (int(strategy.fast), int(strategy.slow)), float(stats["Equity Final [$]"])


# -- vectorbt ------------------------------------------------------------------------------------


def _next_open_orders(data: OHLCV, fast: int, slow: int) -> tuple[Any, Any]:
    """Our sma_cross signals (1 long, -1 short) as vectorbt's entry arrays, moved to the bar whose open they fill at."""
    strategy = create_strategy("sma_cross", {"fast": fast, "slow": slow, "mode": "long_short", "sizing": "quantity", "quantity": 1})
    signals = strategy.signals(data, strategy.prepare(data))
    assert signals is not None
    at_open = np.concatenate(([np.nan], signals[:-1]))
    return at_open > 0, at_open < 0


def vectorbt_run(data: OHLCV) -> tuple[Any, float, float]:
    import vectorbt as vbt

    long_entries, short_entries = _next_open_orders(data, FAST, SLOW)
    wall, cpu = time.perf_counter(), time.process_time()
    portfolio = vbt.Portfolio.from_signals(
        close=data.close,
        entries=long_entries,
        short_entries=short_entries,
        price=data.open,
        size=1.0,
        fees=float(FEE),
        init_cash=1_000_000.0,
        upon_opposite_entry="reverse",
        freq="1min",
    )
    trades = portfolio.trades.records_readable  # make it build the trades, as we do
    return (portfolio, trades), time.perf_counter() - wall, time.process_time() - cpu


def compare_vectorbt_trades(result: BacktestResult, trades: Any) -> tuple[int, int, int]:
    """(matched, ours, theirs): entry/exit bar and price, side, size; P&L to 1e-6."""
    rows = list(
        zip(
            trades["Entry Timestamp"].tolist(),
            trades["Exit Timestamp"].tolist(),
            trades["Avg Entry Price"].tolist(),
            trades["Avg Exit Price"].tolist(),
            trades["Direction"].tolist(),
            trades["PnL"].tolist(),
            trades["Status"].tolist(),
            strict=True,
        )
    )
    closed = [row for row in rows if row[6] == "Closed"]
    matched = 0
    for trade, (entry, exit_, entry_price, exit_price, direction, pnl, _) in zip(result.trades, closed, strict=False):
        same = (
            int(entry) == trade.entry_bar
            and int(exit_) == trade.exit_bar
            and float(trade.entry_price) == entry_price
            and float(trade.exit_price or 0) == exit_price
            and trade.side == ("LONG" if direction == "Long" else "SHORT")
            and abs(float(trade.pnl) - pnl) < 1e-6
        )
        matched += same
    return matched, len(result.trades), len(closed)


def sweep_vectorbt(data: OHLCV) -> tuple[float, tuple[int, int], float]:
    """The same 100 pairs in one broadcast call (one column per pair); signals prepared before the clock starts."""
    import vectorbt as vbt

    pairs = [(fast, slow) for fast in SWEEP_FAST for slow in SWEEP_SLOW]
    columns = [_next_open_orders(data, fast, slow) for fast, slow in pairs]
    long_entries = np.column_stack([c[0] for c in columns])
    short_entries = np.column_stack([c[1] for c in columns])
    wall = time.perf_counter()
    portfolio = vbt.Portfolio.from_signals(
        close=data.close[:, None],  # a column: broadcast against one column of signals per pair
        entries=long_entries,
        short_entries=short_entries,
        price=data.open[:, None],
        size=1.0,
        fees=float(FEE),
        init_cash=1_000_000.0,
        upon_opposite_entry="reverse",
        freq="1min",
    )
    finals = np.asarray(portfolio.final_value())
    elapsed = time.perf_counter() - wall
    best = int(np.argmax(finals))
    return elapsed, pairs[best], float(finals[best])


def machine_speed() -> str:
    started = time.perf_counter()
    for _ in range(10_000_000):
        pass
    loop = time.perf_counter() - started
    with open("/proc/loadavg") as handle:
        load = handle.read().strip()
    return f"machine: a 10,000,000-iteration empty Python loop took {loop:.3f} s; /proc/loadavg {load}"


def main() -> None:
    print(machine_speed(), flush=True)
    data = make_bars(BARS)
    ours(make_bars(2_000, seed=1), FAST, SLOW)  # warm-up: imports, first calls
    runs = [ours(data, FAST, SLOW) for _ in range(OUR_REPEATS)]
    result = runs[0][0]
    wall, cpu = min(r[1] for r in runs), min(r[2] for r in runs)
    print(
        f"ours (best of {OUR_REPEATS}): sma_cross {FAST}/{SLOW} long/short on {BARS:,} 1m bars: {wall:.2f} s wall ({BARS / wall:,.0f} bars/s), "
        f"{cpu:.2f} s CPU ({BARS / cpu:,.0f} bars/s CPU); {result.path} path visited {result.bars_visited:,} bars; "
        f"{len(result.trades):,} closed trades, {len(result.fills):,} fills; target {TARGET_BARS_PER_SECOND:,} bars/s: "
        f"{'met' if BARS / wall >= TARGET_BARS_PER_SECOND else 'NOT met'} (wall), {'met' if BARS / cpu >= TARGET_BARS_PER_SECOND else 'NOT met'} (CPU)",
        flush=True,
    )
    _vectorbt_comparison(data, result, wall)
    try:
        import backtesting
    except ImportError:
        print("backtesting.py is not installed (see the module docstring): comparison skipped")
        return
    _quiet_backtesting()
    bt_runs = [theirs(data) for _ in range(THEIR_REPEATS)]
    stats = bt_runs[0][0]
    bt_wall, bt_cpu = min(r[1] for r in bt_runs), min(r[2] for r in bt_runs)
    print(
        f"backtesting.py {backtesting.__version__} (best of {THEIR_REPEATS}): {bt_wall:.2f} s wall ({BARS / bt_wall:,.0f} bars/s), {bt_cpu:.2f} s CPU ({BARS / bt_cpu:,.0f} bars/s CPU)",
        flush=True,
    )
    print(f"ratio ours / backtesting.py: {bt_wall / wall:.1f}x wall, {bt_cpu / cpu:.1f}x CPU (target >= {TARGET_RATIO:g}x)", flush=True)
    matched, n_ours, n_theirs, differences = compare_trades(result, stats)
    print(f"trades: {matched:,} of {n_ours:,} (ours) / {n_theirs:,} (backtesting.py) identical in entry/exit bar, price, side, size and P&L", flush=True)
    for line in differences:
        print(f"   {line}")

    sweep_data = make_bars(SWEEP_BARS)
    pairs = len(SWEEP_FAST) * len(SWEEP_SLOW)
    s_wall, s_cpu, s_best, s_final = sweep_ours(sweep_data)
    print(
        f"sweep, ours: {pairs} pairs x {SWEEP_BARS:,} bars sequentially in-process: {s_wall:.2f} s wall ({pairs * SWEEP_BARS / s_wall:,.0f} bars/s), "
        f"{s_cpu:.2f} s CPU; best {s_best} final equity {s_final:,.2f}",
        flush=True,
    )
    t_wall, t_best, t_final = sweep_theirs(sweep_data)
    same = t_best == s_best and abs(t_final - s_final) < 1e-6
    print(
        f"sweep, backtesting.py optimize (same grid): {t_wall:.2f} s wall; best {t_best} final equity {t_final:,.2f}; "
        f"ratio {t_wall / s_wall:.1f}x; same best pair and final equity: {'yes' if same else 'NO'}",
        flush=True,
    )
    try:
        import vectorbt  # noqa: F401
    except ImportError:
        return
    sweep_vectorbt(make_bars(2_000, seed=1))  # warm-up: numba compiles the two-dimensional kernels
    v_wall, v_best, v_final = sweep_vectorbt(sweep_data)
    same = v_best == s_best and abs(v_final - s_final) < 1e-6
    print(
        f"sweep, vectorbt broadcasting over the same {pairs} pairs: {v_wall:.2f} s wall; best {v_best} final value {v_final:,.2f}; "
        f"ours / vectorbt: {s_wall / v_wall:.1f}x its time; same best pair and final equity: {'yes' if same else 'NO'}",
        flush=True,
    )


def _vectorbt_comparison(data: OHLCV, result: BacktestResult, wall: float) -> None:
    try:
        import vectorbt
    except ImportError:
        print("vectorbt is not installed (see the module docstring): comparison skipped", flush=True)
        return
    vectorbt_run(make_bars(2_000, seed=1))  # warm-up: numba compiles its kernels on the first call
    runs = [vectorbt_run(data) for _ in range(THEIR_REPEATS)]
    (_, trades), v_wall, v_cpu = runs[0][0], min(r[1] for r in runs), min(r[2] for r in runs)
    matched, n_ours, n_theirs = compare_vectorbt_trades(result, trades)
    print(
        f"vectorbt {vectorbt.__version__} Portfolio.from_signals (best of {THEIR_REPEATS}): {v_wall:.2f} s wall, {v_cpu:.2f} s CPU; "
        f"ours / vectorbt: {wall / v_wall:.1f}x its time (target <= 2x); trades: {matched:,} of {n_ours:,} (ours) / {n_theirs:,} (vectorbt) identical",
        flush=True,
    )


if __name__ == "__main__":
    main()
