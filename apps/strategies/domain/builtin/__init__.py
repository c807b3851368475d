"""The built-in strategies; the registry registers them on its first look-up."""

from apps.strategies.domain.base import Strategy
from apps.strategies.domain.builtin.dca import Dca
from apps.strategies.domain.builtin.grid import Grid
from apps.strategies.domain.builtin.mean_reversion import MeanReversion
from apps.strategies.domain.builtin.momentum import Momentum
from apps.strategies.domain.builtin.sma_cross import SmaCross

BUILTIN_STRATEGIES: tuple[type[Strategy], ...] = (Dca, Grid, MeanReversion, Momentum, SmaCross)
