"""SMA crossover: long when the fast average is above the slow one; short (or flat) below.

The regime is the sign of fast - slow at a bar's close; a tie keeps the previous regime.
A trade happens only when the regime changes (a cross), never on the first bar where both
averages exist. Sizing: `fraction` of equity at the close of the crossing bar, or a fixed
`quantity`. Long/short flips with one market order; long-only goes flat on a cross down.

The signal is the target itself (kind "exposure": +fraction / -fraction / 0, or kind
"position": +quantity / -quantity / 0); the base class's `on_signal` logs the reason and
trades towards it. The strategy keeps no state: the regime is read back from the averages.

Fast path: `signals` computes the crosses vectorised; `on_bar` computes them bar by bar from
the context (the two must agree: the backtest tests compare both paths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.strategies.domain import indicators as ind
from apps.strategies.domain.base import (
    AMOUNT_MAX,
    BarView,
    FloatArray,
    Prepared,
    SignalKind,
    Strategy,
    StrategyContext,
    StrategyParameterError,
    StrategyParams,
    param,
)
from apps.strategies.domain.data import OHLCV


@dataclass(frozen=True)
class SmaCrossParams(StrategyParams):
    fast: int = param(10, minimum=1, maximum=1000, description="Bars in the fast simple moving average.")
    slow: int = param(30, minimum=2, maximum=5000, description="Bars in the slow simple moving average; longer than fast.")
    mode: str = param(
        "long_only",
        choices=("long_only", "long_short"),
        description="On a cross down go flat (long_only, works on spot) or go short (long_short, needs a perpetual).",
    )
    sizing: str = param("fraction", choices=("fraction", "quantity"), description="Size positions as a fraction of equity, or as a fixed quantity.")
    fraction: float = param(0.95, minimum=0, exclusive_minimum=True, maximum=10, description="Position size as a fraction of equity (above 1 needs leverage).")
    quantity: float = param(1.0, minimum=0, exclusive_minimum=True, maximum=AMOUNT_MAX, description="Position size in base units when sizing is 'quantity'.")

    def check(self) -> None:
        if self.fast >= self.slow:
            raise StrategyParameterError("fast", "must be shorter than slow")


class SmaCross(Strategy):
    name = "sma_cross"
    description = "Fast/slow simple moving average crossover, long-only or long/short, sized as a fraction of equity."
    Params = SmaCrossParams
    params: SmaCrossParams

    def prepare(self, data: OHLCV) -> Prepared:
        return {"fast": ind.sma(data.close, self.params.fast), "slow": ind.sma(data.close, self.params.slow)}

    def _target(self, regime: int) -> float:
        """The signal for a regime: the target exposure (fraction sizing) or position (quantity sizing)."""
        p = self.params
        size = p.fraction if p.sizing == "fraction" else p.quantity
        if regime > 0:
            return size
        return -size if p.mode == "long_short" else 0.0

    def signal_kind(self) -> SignalKind:
        return "exposure" if self.params.sizing == "fraction" else "position"

    def signal_reason(self, value: float) -> str:
        if value > 0:
            return "fast SMA crossed above slow: go long"
        if value < 0:
            return "fast SMA crossed below slow: go short"
        return "fast SMA crossed below slow: go flat"

    def signals(self, data: OHLCV, prepared: Prepared) -> FloatArray:
        diff = prepared["fast"] - prepared["slow"]
        with np.errstate(invalid="ignore"):
            sign = np.sign(diff)
        sign[sign == 0] = np.nan  # a tie (or no value yet) keeps the regime
        valid = ~np.isnan(sign)
        index = np.where(valid, np.arange(len(sign)), -1)
        np.maximum.accumulate(index, out=index)
        regime = np.where(index >= 0, sign[np.maximum(index, 0)], 0.0)
        previous = np.concatenate(([0.0], regime[:-1]))
        cross = (regime != previous) & (previous != 0)
        out = np.full(len(sign), np.nan)
        out[cross & (regime > 0)] = self._target(1)
        out[cross & (regime < 0)] = self._target(-1)
        return out

    @staticmethod
    def _regime(ctx: StrategyContext, ago: int) -> int:
        """The regime at bar t - ago: the sign of the last non-zero fast - slow up to it (0 before any)."""
        for back in range(ago, ctx.t + 1):
            diff = ctx.indicator("fast", back) - ctx.indicator("slow", back)
            if math.isnan(diff):
                return 0
            if diff != 0:
                return 1 if diff > 0 else -1
        return 0

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        regime = self._regime(ctx, 0)
        if regime == 0:
            return
        previous = self._regime(ctx, 1)
        if previous != 0 and regime != previous:
            self.on_signal(ctx, self._target(regime))
