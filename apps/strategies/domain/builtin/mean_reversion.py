"""Mean reversion: RSI oversold/overbought confirmed by the Bollinger Bands, out at the mean.

Entry at a bar's close: long when RSI < `oversold` and the close is below the lower band;
short (if allowed) when RSI > `overbought` and the close is above the upper band. Exit when
the close reaches the middle band (`exit="mid"`) or the RSI is back to 50 (`exit="rsi"`).
Size: `fraction` of equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.strategies.domain import indicators as ind
from apps.strategies.domain.base import BarView, Prepared, Strategy, StrategyContext, StrategyParameterError, StrategyParams, param
from apps.strategies.domain.data import OHLCV


@dataclass(frozen=True)
class MeanReversionParams(StrategyParams):
    rsi_period: int = param(14, minimum=2, maximum=500, description="RSI period (Wilder).")
    oversold: float = param(30.0, minimum=0, maximum=50, description="RSI below this is oversold.")
    overbought: float = param(70.0, minimum=50, maximum=100, description="RSI above this is overbought.")
    bb_period: int = param(20, minimum=2, maximum=500, description="Bollinger Bands period.")
    bb_std: float = param(2.0, minimum=0, exclusive_minimum=True, maximum=10, description="Band width in (population) standard deviations.")
    exit: str = param("mid", choices=("mid", "rsi"), description="Exit at the middle band, or when the RSI is back to 50.")
    fraction: float = param(0.95, minimum=0, exclusive_minimum=True, maximum=10, description="Position size as a fraction of equity.")
    allow_short: bool = param(False, description="Take short entries too (perpetuals).")

    def check(self) -> None:
        if self.oversold >= self.overbought:
            raise StrategyParameterError("oversold", "must be below overbought")


class MeanReversion(Strategy):
    name = "mean_reversion"
    description = "Mean reversion: RSI oversold/overbought confirmed by a Bollinger Band, exit at the middle band or RSI 50."
    Params = MeanReversionParams
    params: MeanReversionParams

    def prepare(self, data: OHLCV) -> Prepared:
        p = self.params
        bands = ind.bollinger(data.close, p.bb_period, p.bb_std)
        return {"rsi": ind.rsi(data.close, p.rsi_period), "mid": bands.mid, "upper": bands.upper, "lower": bands.lower}

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        p = self.params
        rsi, mid, upper, lower = ctx.indicator("rsi"), ctx.indicator("mid"), ctx.indicator("upper"), ctx.indicator("lower")
        if math.isnan(rsi) or math.isnan(mid):
            return
        close = bar.close
        held = ctx.position_quantity + ctx.pending_quantity
        if held > 0:
            if (p.exit == "mid" and close >= mid) or (p.exit == "rsi" and rsi >= 50):
                ctx.log(f"long exit: close {close:g}, mid {mid:.6g}, RSI {rsi:.1f}")
                ctx.close()
            return
        if held < 0:
            if (p.exit == "mid" and close <= mid) or (p.exit == "rsi" and rsi <= 50):
                ctx.log(f"short exit: close {close:g}, mid {mid:.6g}, RSI {rsi:.1f}")
                ctx.close()
            return
        if rsi < p.oversold and close < lower:
            ctx.log(f"oversold: RSI {rsi:.1f} < {p.oversold:g} and close {close:g} below the lower band {lower:.6g}: long")
            ctx.target_exposure(p.fraction)
        elif p.allow_short and rsi > p.overbought and close > upper:
            ctx.log(f"overbought: RSI {rsi:.1f} > {p.overbought:g} and close {close:g} above the upper band {upper:.6g}: short")
            ctx.target_exposure(-p.fraction)
