"""Reads of a user's backtests and optimisations, for the pages and the API alike."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.backtesting.models import Backtest, Optimisation
from apps.core.selectors import get_or_not_found


def backtest_list(*, actor: Any) -> QuerySet[Backtest]:
    """The actor's backtests, newest first (the model's order), without the heavy columns (curve and trades)."""
    return Backtest.objects.filter(owner=actor).select_related("symbol", "symbol__exchange").defer("equity_curve", "trades")


def backtest_get(*, actor: Any, backtest_id: Any) -> Backtest:
    return get_or_not_found(Backtest.objects.select_related("symbol", "symbol__exchange"), "No such backtest.", pk=backtest_id, owner=actor)


def optimisation_list(*, actor: Any) -> QuerySet[Optimisation]:
    """The actor's optimisations, newest first."""
    return Optimisation.objects.filter(owner=actor).select_related("symbol").order_by("-created_at")


def optimisation_get(*, actor: Any, optimisation_id: Any) -> Optimisation:
    return get_or_not_found(Optimisation.objects.select_related("symbol", "symbol__exchange"), "No such optimisation.", pk=optimisation_id, owner=actor)
