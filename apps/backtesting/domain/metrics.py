"""Performance metrics of a backtest: returns, risk-adjusted ratios, drawdowns, trade statistics.

Conventions (they are repeated in the output under "conventions"):
- Crypto trades every day: a year is 365 days.
- Calendar time: the test covers the first bar's open to the last bar's close (the last
  timestamp plus one bar), whatever gaps the bars have; years = that span / 365 days.
- Annualised return = (final / initial) ^ (1 / years) - 1.
- Daily returns: the equity at each UTC day's last close over the previous day's (the initial
  capital before the first day). Sharpe, Sortino and volatility are computed on them and
  annualised with sqrt(365) (bars of a day or longer: on the per-bar returns instead).
- Per-bar returns: simple returns of the equity marked at each close, the first from the
  initial capital; `sharpe_per_bar`, `sortino_per_bar` and `volatility_per_bar` annualise them
  with sqrt(periods per year), periods per year = 365 x 86400 / bar seconds (525,600 for
  1-minute bars, 8,760 for hourly, 365 for daily). Risk-free rate 0.
- Sharpe = mean / standard deviation (ddof=1) x sqrt(periods per year).
- Sortino = mean / downside deviation x sqrt(periods per year), the downside deviation being
  sqrt(mean(min(r, 0)^2)) over all periods (target 0).
- Volatility = standard deviation (ddof=1) x sqrt(periods per year).
- Max drawdown = the largest fall from a running peak, as a positive fraction (the initial
  capital is the first peak); its duration is the longest run of bars closing below a
  previous peak (until a close at or above it, or the end), in bars and in days.
- Calmar = annualised return / max drawdown.
- Trades are closed trades; win rate = winners / trades (P&L > 0); profit factor = gross
  profit / gross loss (None when there was no loss); averages are in quote currency.
- Exposure = the share of bars that close with a position.
- Buy and hold = last close / first close - 1.
- Monthly returns: equity at each calendar month's last bar over the previous month's (the
  initial capital before the first month).
Values that cannot be computed (no trades, zero variance) are None, so the dict is JSON-safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from apps.backtesting.domain.accounting import Trade
    from apps.backtesting.domain.engine import BacktestResult

FloatArray = npt.NDArray[np.float64]
YEAR_SECONDS = 365 * 86400


def _none_if_bad(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def periods_per_year(bar_seconds: float) -> float:
    if bar_seconds <= 0:
        raise ValueError("bar_seconds must be positive")
    return YEAR_SECONDS / bar_seconds


def volatility(returns: FloatArray, per_year: float) -> float | None:
    if returns.size < 2:
        return None
    return _none_if_bad(float(np.std(returns, ddof=1)) * math.sqrt(per_year))


def daily_equity(times: npt.NDArray[np.datetime64], equity: FloatArray) -> FloatArray:
    """The equity at each UTC day's last close (days without a bar are skipped)."""
    if equity.size == 0:
        return equity
    days = times.astype("datetime64[D]")
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    return equity[last_of_day]


def calendar_seconds(times: npt.NDArray[np.datetime64], bar_seconds: float) -> float:
    """From the first bar's open to the last bar's close, in seconds."""
    if times.size == 0:
        return 0.0
    span = (times[-1] - times[0]).astype("timedelta64[ns]").astype(np.int64) / 1e9
    return float(span) + bar_seconds


def gaps(times: npt.NDArray[np.datetime64], bar_seconds: float) -> tuple[int, float]:
    """(how many times bars are further apart than one bar, the largest distance in seconds)."""
    if times.size < 2:
        return 0, 0.0
    steps = np.diff(times).astype("timedelta64[ns]").astype(np.int64) / 1e9
    wide = steps > bar_seconds
    return int(wide.sum()), float(steps.max()) if wide.any() else 0.0


def gap_warning(count: int, largest_seconds: float) -> str | None:
    if not count:
        return None
    return f"{count} gap{'s' if count != 1 else ''} in the candles (the largest {_duration(largest_seconds)}): returns are annualised over calendar time"


def _duration(seconds: float) -> str:
    if seconds < 7200:
        return f"{round(seconds / 60, 1):g} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600, 1):g} h"
    return f"{round(seconds / 86400, 1):g} days"


def returns_of(equity: FloatArray, initial: float) -> FloatArray:
    previous = np.concatenate(([initial], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(previous != 0, equity / previous - 1.0, 0.0)


def sharpe(returns: FloatArray, per_year: float) -> float | None:
    if returns.size < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0 or not math.isfinite(std):
        return None
    return _none_if_bad(float(np.mean(returns)) / std * math.sqrt(per_year))


def sortino(returns: FloatArray, per_year: float) -> float | None:
    if returns.size < 1:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return None
    return _none_if_bad(float(np.mean(returns)) / downside * math.sqrt(per_year))


def drawdown(equity: FloatArray, initial: float) -> tuple[float, int, int | None, int | None]:
    """(max drawdown as a positive fraction, longest run of bars closing below the running peak, its first and last bar).

    The initial capital is the first peak; the bars of a run are those from the first close
    below the peak to the last one before a close at or above it (or the last bar).
    """
    curve = np.concatenate(([initial], equity))
    peaks = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, 1.0 - curve / peaks, 0.0)
    max_dd = float(dd.max())
    under = (curve < peaks)[1:].astype(np.int8)
    if not under.any():
        return max_dd, 0, None, None
    edges = np.diff(np.concatenate(([0], under, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # one past the run
    lengths = ends - starts
    k = int(lengths.argmax())
    return max_dd, int(lengths[k]), int(starts[k]), int(ends[k] - 1)


def trade_stats(trades: Sequence[Trade]) -> dict[str, Any]:
    pnls = [float(trade.pnl) for trade in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    gross_profit = sum(wins)
    gross_loss = -sum(p for p in losses if p < 0)
    return {
        "trades": len(pnls),
        "win_rate": len(wins) / len(pnls) if pnls else None,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else None,
        "average_win": sum(wins) / len(wins) if wins else None,
        "average_loss": sum(losses) / len(losses) if losses else None,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "net_profit": sum(pnls),
    }


def monthly_returns(times: npt.NDArray[np.datetime64], equity: FloatArray, initial: float) -> dict[str, float]:
    """{"YYYY-MM": return of that month}, from the equity at each month's last bar."""
    if equity.size == 0:
        return {}
    months = times.astype("datetime64[M]")
    last_of_month = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    out: dict[str, float] = {}
    previous = initial
    for i in last_of_month.tolist():
        value = float(equity[i])
        out[str(months[i])] = value / previous - 1.0 if previous else 0.0
        previous = value
    return out


def compute(
    *,
    equity: FloatArray,
    times: npt.NDArray[np.datetime64],
    close: FloatArray,
    position: FloatArray,
    trades: Sequence[Trade],
    initial: float,
    bar_seconds: float,
) -> dict[str, Any]:
    """Every metric, from arrays (see the module docstring for the conventions)."""
    n = int(equity.size)
    per_year = periods_per_year(bar_seconds)
    final = float(equity[-1]) if n else initial
    total = final / initial - 1.0
    span = calendar_seconds(times, bar_seconds)
    years = span / YEAR_SECONDS
    if years > 0 and final > 0:
        annual = _none_if_bad((final / initial) ** (1.0 / years) - 1.0)
    elif final <= 0:
        annual = -1.0
    else:
        annual = None
    r = returns_of(equity, initial)
    if bar_seconds < 86_400:
        daily, daily_per_year, basis = returns_of(daily_equity(times, equity), initial), 365.0, "daily returns (UTC days)"
    else:
        daily, daily_per_year, basis = r, per_year, "per-bar returns (bars of a day or longer)"
    gap_count, largest_gap = gaps(times, bar_seconds)
    max_dd, dd_bars, dd_start, dd_end = drawdown(equity, initial)
    calmar = annual / max_dd if annual is not None and max_dd > 0 else None
    stats = trade_stats(trades)
    return {
        "bars": n,
        "start": str(times[0]) if n else None,
        "end": str(times[-1]) if n else None,
        "initial_capital": initial,
        "final_equity": final,
        "total_return": total,
        "annualised_return": annual,
        "sharpe": sharpe(daily, daily_per_year),
        "sortino": sortino(daily, daily_per_year),
        "volatility": volatility(daily, daily_per_year),
        "sharpe_per_bar": sharpe(r, per_year),
        "sortino_per_bar": sortino(r, per_year),
        "volatility_per_bar": volatility(r, per_year),
        "calendar_days": span / 86_400,
        "gaps": gap_count,
        "largest_gap_seconds": largest_gap,
        "calmar": _none_if_bad(calmar) if calmar is not None else None,
        "max_drawdown": max_dd,
        "max_drawdown_duration_bars": dd_bars,
        "max_drawdown_duration_days": dd_bars * bar_seconds / 86400,
        "max_drawdown_start_bar": dd_start,
        "max_drawdown_end_bar": dd_end,
        **stats,
        "exposure": float(np.count_nonzero(position)) / n if n else 0.0,
        "buy_and_hold_return": float(close[-1] / close[0] - 1.0) if n and close[0] else None,
        "monthly_returns": monthly_returns(times, equity, initial),
        "periods_per_year": per_year,
        "annualisation": (
            f"365 days, {per_year:g} periods per year from {bar_seconds:g}-second bars, risk-free rate 0; "
            f"returns over calendar time ({span / 86_400:g} days); Sharpe, Sortino and volatility on {basis}"
        ),
        "conventions": {
            "annualised_return": "(final / initial) ^ (365 days / calendar time) - 1; calendar time from the first bar's open to the last bar's close",
            "returns": f"Sharpe, Sortino and volatility: {basis}, x sqrt({daily_per_year:g}); the *_per_bar values: simple per-bar returns of the equity marked at each close, x sqrt({per_year:g})",
            "sharpe": "mean / std (ddof=1) x sqrt(periods per year)",
            "sortino": "mean / sqrt(mean(min(r, 0)^2)) x sqrt(periods per year)",
            "volatility": "std (ddof=1) x sqrt(periods per year)",
            "max_drawdown": "largest fall from a running peak, positive fraction; the initial capital is the first peak",
            "calmar": "annualised return / max drawdown",
            "buy_and_hold": "last close / first close - 1",
        },
    }


def order_outcomes(result: BacktestResult) -> dict[str, Any]:
    """Refused and re-sized orders (by reason) and liquidations (count, losses), with the warning line when any happened."""
    refusals = result.refusals
    resized = sum(1 for refusal in refusals if refusal.resized)
    return {
        "refused_orders": len(refusals) - resized,
        "resized_orders": resized,
        "refusals_by_reason": result.refusal_counts(),
        "liquidations": len(result.liquidations),
        "liquidation_losses": float(sum((liquidation.loss for liquidation in result.liquidations), Decimal(0))),
        "warning": result.warning(),
    }


def compute_metrics(result: BacktestResult) -> dict[str, Any]:
    data = result.data
    performance = compute(
        equity=result.equity,
        times=data.time,
        close=data.close,
        position=result.position,
        trades=result.trades,
        initial=float(result.config.initial_capital),
        bar_seconds=data.bar_seconds() or 60.0,
    )
    outcomes = order_outcomes(result)
    gap = gap_warning(performance["gaps"], performance["largest_gap_seconds"])
    if gap:
        outcomes["warning"] = f"{outcomes['warning']}; {gap}" if outcomes["warning"] else f"Warning: {gap}"
    return {**performance, **outcomes}
