"""The built-in strategies; importing this package registers them."""

from apps.strategies.domain.builtin import dca, grid, mean_reversion, momentum, sma_cross

__all__ = ["dca", "grid", "mean_reversion", "momentum", "sma_cross"]
