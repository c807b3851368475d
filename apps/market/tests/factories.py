from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from apps.exchanges.domain.types import Candle


def candle_run(start: datetime, count: int, price: str = "100.00", step: str = "0.10", minutes: int = 1) -> list[Candle]:
    """`count` consecutive, internally consistent candles starting at `start`."""
    candles = []
    close = Decimal(price)
    for index in range(count):
        open_ = close
        close = open_ + Decimal(step) * (1 if index % 3 else -1)
        candles.append(
            Candle(
                open_time=start + timedelta(minutes=minutes * index),
                open=open_,
                high=max(open_, close) + Decimal("0.05"),
                low=min(open_, close) - Decimal("0.05"),
                close=close,
                volume=Decimal("1.5") + index,
            )
        )
    return candles
