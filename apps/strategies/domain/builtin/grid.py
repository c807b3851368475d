"""Grid: limit orders resting at evenly spaced levels between a lower and an upper price.

At the start, a buy rests at every level below the first close (a level within one tick of
the close is skipped). When a buy at level i fills, a sell of the same quantity is placed at
level i+1; when that sell fills, a buy goes back at level i. So the grid buys dips and sells
the bounce one level up, with no selling of what it did not buy (works on spot). Prices
outside [lower, upper] leave the orders resting.

Fast path: the grid decides nothing on bar closes (its signals are all NaN); the backtest
only visits bars whose range reaches a resting order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.orders.domain.model import OrderSide, OrderStatus
from apps.strategies.domain.base import AMOUNT_MAX, FloatArray, OrderUpdate, Prepared, Strategy, StrategyContext, StrategyParameterError, StrategyParams, param
from apps.strategies.domain.data import OHLCV


@dataclass(frozen=True)
class GridParams(StrategyParams):
    lower: float = param(90.0, minimum=0, exclusive_minimum=True, maximum=AMOUNT_MAX, description="Lowest grid level (quote price).")
    upper: float = param(110.0, minimum=0, exclusive_minimum=True, maximum=AMOUNT_MAX, description="Highest grid level (quote price); above lower.")
    levels: int = param(11, minimum=2, maximum=500, description="Number of levels, lower and upper included.")
    quantity: float = param(0.01, minimum=0, exclusive_minimum=True, maximum=AMOUNT_MAX, description="Base quantity of each order.")

    def check(self) -> None:
        if self.upper <= self.lower:
            raise StrategyParameterError("upper", "must be above lower")


class Grid(Strategy):
    name = "grid"
    description = "Grid trading: buy limits at levels below the price, a sell one level up after each buy fills, and back."
    Params = GridParams
    params: GridParams

    def level_prices(self) -> list[float]:
        p = self.params
        step = (p.upper - p.lower) / (p.levels - 1)
        return [p.lower + i * step for i in range(p.levels)]

    def signals(self, data: OHLCV, prepared: Prepared) -> FloatArray:
        return np.full(len(data), np.nan)

    def _place(self, ctx: StrategyContext, side: OrderSide, level: int) -> None:
        price = self.level_prices()[level]
        order_id = ctx.limit(side, price, self.params.quantity)
        if order_id is not None:
            self.state.setdefault("orders", {})[order_id] = [side.value, level]

    def on_start(self, ctx: StrategyContext) -> None:
        close = ctx.close_price
        tick = float(ctx.rules.tick_size)
        placed = 0
        for level, price in enumerate(self.level_prices()):
            if price < close - tick:
                self._place(ctx, OrderSide.BUY, level)
                placed += 1
        ctx.log(f"grid of {self.params.levels} levels from {self.params.lower:g} to {self.params.upper:g}: {placed} buys placed below {close:g}")

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        orders: dict[str, Any] = self.state.setdefault("orders", {})
        entry = orders.get(update.order_id)
        if entry is None or update.status is None or not update.status.is_terminal:
            return
        del orders[update.order_id]
        if update.status is not OrderStatus.FILLED:
            return
        side, level = OrderSide(entry[0]), int(entry[1])
        if side is OrderSide.BUY and level + 1 < self.params.levels:
            ctx.log(f"buy at level {level} filled: sell at level {level + 1}")
            self._place(ctx, OrderSide.SELL, level + 1)
        elif side is OrderSide.SELL and level > 0:
            ctx.log(f"sell at level {level} filled: buy again at level {level - 1}")
            self._place(ctx, OrderSide.BUY, level - 1)
