"""Dollar-cost averaging with safety orders and a take-profit (long only, spot-friendly).

A deal opens with a market buy of `order_quote` (quote currency) when the trigger fires:
- `trigger="periodic"`: every `interval` bars (counted from the first bar); further periodic
  buys keep adding to an open deal (classic DCA);
- `trigger="dip"`: when no deal is open and the close is `dip_percent` % below the highest
  close of the last `lookback` bars.
After the deal's first fill, `max_safety_orders` buy limits rest below the first fill price,
the k-th at `step_percent` x k % below it for `order_quote` x `volume_multiplier`^k of quote.
A take-profit sell limit for the whole position rests at the average entry x (1 +
`take_profit_percent` %), re-placed whenever a buy fills. When it fills, the deal ends and
the remaining safety orders are canceled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.orders.domain.model import OrderSide, OrderStatus
from apps.strategies.domain import indicators as ind
from apps.strategies.domain.base import AMOUNT_MAX, BarView, OrderUpdate, Prepared, Strategy, StrategyContext, StrategyParams, param
from apps.strategies.domain.data import OHLCV


@dataclass(frozen=True)
class DcaParams(StrategyParams):
    trigger: str = param("periodic", choices=("periodic", "dip"), description="Buy every `interval` bars, or on a dip from the recent high.")
    interval: int = param(24, minimum=1, maximum=100_000, description="Bars between periodic buys.")
    dip_percent: float = param(3.0, minimum=0, exclusive_minimum=True, maximum=90, description="Dip below the recent high that opens a deal (%).")
    lookback: int = param(24, minimum=1, maximum=10_000, description="Bars of closes the recent high is taken over.")
    order_quote: float = param(100.0, minimum=0, exclusive_minimum=True, maximum=AMOUNT_MAX, description="Quote amount of each base buy.")
    take_profit_percent: float = param(2.0, minimum=0, exclusive_minimum=True, maximum=1000, description="Take profit above the average entry (%).")
    max_safety_orders: int = param(3, minimum=0, maximum=50, description="Safety buy orders resting below the first fill.")
    step_percent: float = param(2.0, minimum=0, exclusive_minimum=True, maximum=50, description="Distance between safety orders (% of the first fill price).")
    volume_multiplier: float = param(1.5, minimum=1, maximum=10, description="Each safety order is this many times the previous one.")

    def check(self) -> None:
        if self.step_percent * self.max_safety_orders >= 100:
            from apps.strategies.domain.base import StrategyParameterError

            raise StrategyParameterError("step_percent", "safety orders would go down to a price of zero")


class Dca(Strategy):
    name = "dca"
    description = "Dollar-cost averaging: periodic or dip-triggered buys, safety orders below, a take-profit on the average entry."
    Params = DcaParams
    params: DcaParams

    def prepare(self, data: OHLCV) -> Prepared:
        return {"recent_high": ind.highest(data.close, self.params.lookback)}

    def _deal_open(self) -> bool:
        return bool(self.state.get("in_deal"))

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        p = self.params
        if self._deal_open() and not self.state.get("take_profit") and ctx.position.quantity > 0:
            self._replace_take_profit(ctx)  # the last one was refused or canceled: put it back
        if p.trigger == "periodic":
            if bar.index % p.interval == 0:
                self._base_buy(ctx, f"periodic buy (every {p.interval} bars)")
            return
        if self._deal_open() or self.state.get("base_pending"):
            return
        high = ctx.indicator("recent_high")
        if not math.isnan(high) and bar.close <= high * (1 - p.dip_percent / 100):
            self._base_buy(ctx, f"close {bar.close:g} is {p.dip_percent:g} % below the {p.lookback}-bar high {high:g}")

    def _base_buy(self, ctx: StrategyContext, reason: str) -> None:
        order_id = ctx.buy(quote=self.params.order_quote)
        if order_id is None:
            return
        ctx.log(reason)
        self.state["base_pending"] = True
        self.state.setdefault("base_orders", []).append(order_id)

    def on_order_update(self, ctx: StrategyContext, update: OrderUpdate) -> None:
        s = self.state
        if update.status is None or not update.status.is_terminal:
            return
        base_orders: list[str] = s.setdefault("base_orders", [])
        safety: list[str] = s.setdefault("safety_orders", [])
        if update.order_id in base_orders:
            base_orders.remove(update.order_id)
            s["base_pending"] = bool(base_orders)
            if update.status is OrderStatus.FILLED and update.fill is not None:
                if not s.get("in_deal"):
                    s["in_deal"] = True
                    self._place_safety(ctx, float(update.fill.price))
                self._replace_take_profit(ctx)
        elif update.order_id in safety:
            safety.remove(update.order_id)
            if update.status is OrderStatus.FILLED:
                ctx.log(f"safety order filled at {update.fill.price if update.fill else '?'}")
                self._replace_take_profit(ctx)
        elif update.order_id in s.setdefault("take_profits", []):
            s["take_profits"].remove(update.order_id)
            if update.order_id == s.get("take_profit"):
                s["take_profit"] = None
            if update.status is OrderStatus.FILLED and ctx.position.quantity <= 0:
                ctx.log("take-profit filled: deal closed")
                for order_id in list(safety):
                    ctx.cancel(order_id)
                safety.clear()
                s["in_deal"] = False

    def _place_safety(self, ctx: StrategyContext, first_price: float) -> None:
        p = self.params
        for k in range(1, p.max_safety_orders + 1):
            price = first_price * (1 - p.step_percent * k / 100)
            order_id = ctx.limit(OrderSide.BUY, price, quote=p.order_quote * p.volume_multiplier**k)
            if order_id is not None:
                self.state["safety_orders"].append(order_id)

    def _replace_take_profit(self, ctx: StrategyContext) -> None:
        current = self.state.get("take_profit")
        if current:
            ctx.cancel(current)
            self.state["take_profit"] = None
        position = ctx.position
        if position.quantity <= 0:
            return
        price = float(position.entry_price) * (1 + self.params.take_profit_percent / 100)
        order_id = ctx.limit(OrderSide.SELL, price, position.quantity)
        self.state["take_profit"] = order_id
        self.state.setdefault("take_profits", []).append(order_id)
        ctx.log(f"take-profit for {position.quantity} at {price:.8g} (average entry {position.entry_price})")
