"""Momentum / trend following: breakouts (or an EMA trend filter), ATR-trailed stops, ATR sizing.

Entry at a bar's close:
- `entry="breakout"`: long when the close is above the highest high of the previous
  `lookback` bars (the current bar excluded), short (if allowed) below their lowest low;
- `entry="ema"`: long when the close crosses above the EMA(`ema_period`), short when it
  crosses below.
Sizing: risk `risk_fraction` of equity on a move of `atr_multiple` x ATR against the position:
quantity = risk_fraction x equity / (atr_multiple x ATR), capped at `max_exposure` x equity.
Exit: a stop-market order `atr_multiple` x ATR away from the close, trailed at each close in
the position's favour only (re-placed when it moves by at least a tick), or an opposite entry
signal (which flips when shorts are allowed, else closes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.orders.domain.model import OrderSide, OrderStatus
from apps.strategies.domain import indicators as ind
from apps.strategies.domain.base import BarView, OrderUpdate, Prepared, Strategy, StrategyContext, StrategyParams, param
from apps.strategies.domain.data import OHLCV


@dataclass(frozen=True)
class MomentumParams(StrategyParams):
    entry: str = param("breakout", choices=("breakout", "ema"), description="Enter on an N-bar breakout, or on a cross of the EMA.")
    lookback: int = param(20, minimum=2, maximum=1000, description="Bars whose high/low a breakout must exceed.")
    ema_period: int = param(50, minimum=2, maximum=1000, description="EMA period of the trend filter (entry='ema').")
    atr_period: int = param(14, minimum=1, maximum=500, description="ATR period (Wilder).")
    atr_multiple: float = param(3.0, minimum=0, exclusive_minimum=True, maximum=50, description="Stop distance in ATRs.")
    risk_fraction: float = param(0.01, minimum=0, exclusive_minimum=True, maximum=1, description="Fraction of equity risked per trade.")
    max_exposure: float = param(1.0, minimum=0, exclusive_minimum=True, maximum=10, description="Largest position as a fraction of equity.")
    allow_short: bool = param(False, description="Take short entries too (perpetuals).")


class Momentum(Strategy):
    name = "momentum"
    description = "Trend following: N-bar breakouts or an EMA trend filter, ATR-sized positions and an ATR trailing stop."
    Params = MomentumParams
    params: MomentumParams

    def prepare(self, data: OHLCV) -> Prepared:
        p = self.params
        return {
            "upper": ind.shift(ind.highest(data.high, p.lookback)),
            "lower": ind.shift(ind.lowest(data.low, p.lookback)),
            "ema": ind.ema(data.close, p.ema_period),
            "atr": ind.atr(data.high, data.low, data.close, p.atr_period),
        }

    def _signal(self, ctx: StrategyContext, close: float) -> int:
        if self.params.entry == "breakout":
            upper, lower = ctx.indicator("upper"), ctx.indicator("lower")
            if close > upper:
                return 1
            if close < lower:
                return -1
            return 0
        ema, ema_before = ctx.indicator("ema"), ctx.indicator("ema", 1)
        close_before = float(ctx.bars.close[-2]) if ctx.t >= 1 else math.nan
        if math.isnan(ema) or math.isnan(ema_before) or math.isnan(close_before):
            return 0
        if close > ema and close_before <= ema_before:
            return 1
        if close < ema and close_before >= ema_before:
            return -1
        return 0

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        p = self.params
        atr = ctx.indicator("atr")
        if math.isnan(atr) or atr <= 0:
            return
        held = float(ctx.position_quantity) + float(ctx.pending_quantity)
        signal = self._signal(ctx, bar.close)
        direction = 1 if held > 0 else -1 if held < 0 else 0
        if signal != 0 and signal != direction:
            if signal < 0 and not p.allow_short:
                if direction > 0:
                    ctx.log("exit signal: close the long")
                    self._cancel_stop(ctx)
                    ctx.close()
                return
            equity = float(ctx.equity)
            quantity = min(p.risk_fraction * equity / (p.atr_multiple * atr), p.max_exposure * equity / bar.close)
            ctx.log(
                f"{'breakout' if p.entry == 'breakout' else 'EMA cross'} {'up' if signal > 0 else 'down'}: {'long' if signal > 0 else 'short'} {quantity:.8g}"
            )
            self._cancel_stop(ctx)
            ctx.target_position(signal * quantity)
            self.state["pending_direction"] = signal
            self.state["stop_price"] = None
            return
        if direction != 0 and not self.state.get("pending_direction"):
            self._trail(ctx, direction, bar.close - direction * p.atr_multiple * atr)

    def _cancel_stop(self, ctx: StrategyContext) -> None:
        stop_id = self.state.get("stop_id")
        if stop_id:
            ctx.cancel(stop_id)
            self.state["stop_id"] = None

    def _trail(self, ctx: StrategyContext, direction: int, level: float) -> None:
        current = self.state.get("stop_price")
        tick = float(ctx.rules.tick_size)
        if current is not None and (level - current) * direction < tick:
            return
        self._cancel_stop(ctx)
        side = OrderSide.SELL if direction > 0 else OrderSide.BUY
        quantity = abs(ctx.position_quantity)
        # Reduce-only exists on perpetuals; on spot a sell can only spend what is held anyway.
        stop_id = ctx.stop(side, level, quantity, reduce_only=ctx.rules.is_perpetual)
        self.state["stop_id"] = stop_id
        self.state["stop_price"] = float(ctx.round_price(level, up=direction < 0))
        if current is None:
            ctx.log(f"stop at {self.state['stop_price']:g}")

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        if update.status is OrderStatus.FILLED and update.order_id == self.state.get("stop_id"):
            ctx.log(f"stopped out at {update.fill.price if update.fill else '?'}")
            self.state["stop_id"] = None
            self.state["stop_price"] = None
        elif update.status is not None and update.status.is_terminal and update.order_id != self.state.get("stop_id"):
            self.state["pending_direction"] = None  # the entry order is done (filled, refused or canceled)
