"""Optimisations scored on each objective other than Sharpe, and the random search method.

Run in-process as the other optimisation tests do (no worker): the optimisation is created (its
start task only goes out on commit, which a test never reaches), marked running, its first
candidates run with `run_candidates` and the batch closed with `finish_batch`. What is checked is
what a trader reads: the results in the API (best first) and the rows of the results table.
"""

from __future__ import annotations

import html as html_lib
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.template.defaultfilters import floatformat
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.backtesting.data import stored_bars
from apps.backtesting.models import Optimisation, OptimisationResult
from apps.backtesting.optimisation.services import finish_batch, first_candidates, optimisation_create, run_candidates
from apps.backtesting.services import BacktestSettings, backtest_execute, validated_params
from apps.exchanges.domain.types import Candle
from apps.exchanges.tests.factories import SymbolFactory
from apps.market.services.candles import candles_upsert
from apps.strategies.tests.bars import random_walk

pytestmark = pytest.mark.django_db

BARS = 600
START = datetime(2024, 1, 1, tzinfo=UTC)  # where `random_walk` starts
END = START + timedelta(minutes=BARS)
IN_SAMPLE = 0.7

# fast x slow; slow=450 cannot trade in the 420 in-sample bars: a flat, unscorable in-sample run
GRID = {"fast": {"values": [3, 6, 10]}, "slow": {"values": [25, 40, 450]}}


@pytest.fixture
def symbol(db: None) -> Any:
    """BTC/USDT with 600 stored 1m candles of a seeded random walk: SMA crosses that win and lose."""
    symbol = SymbolFactory(symbol="BTC/USDT")
    data = random_walk(BARS, seed=21, minutes=1)
    candles = [
        Candle(data.datetime_at(i), *(Decimal(repr(float(column[i]))) for column in (data.open, data.high, data.low, data.close, data.volume)))
        for i in range(BARS)
    ]
    candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
    return symbol


def _optimise(user: Any, symbol: Any, **overrides: Any) -> Optimisation:
    values: dict[str, Any] = {
        "actor": user,
        "strategy": "sma_cross",
        "param_space": GRID,
        "objective": "sharpe",
        "method": "grid",
        "max_runs": 50,
        "symbol": symbol,
        "timeframe": "1m",
        "start": START,
        "end": END,
        "in_sample_fraction": Decimal(str(IN_SAMPLE)),
    }
    optimisation = optimisation_create(**{**values, **overrides})
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")
    run_candidates(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation))
    finish_batch(optimisation_id=optimisation.pk)
    optimisation.refresh_from_db()
    assert optimisation.status == "done", optimisation.error
    return optimisation


def _in_sample_profit_factor(optimisation: Optimisation, params: dict[str, Any]) -> float | None:
    """Gross profit / gross loss of the trades opened in the in-sample bars, from a fresh backtest of the candidate."""
    bars = stored_bars(symbol=optimisation.symbol, timeframe="1m", start=START, end=END)
    split = int(len(bars) * IN_SAMPLE)
    settings = BacktestSettings(
        "sma_cross",
        validated_params("sma_cross", {**optimisation.base_params, **params}),
        "1m",
        optimisation.initial_capital,
        optimisation.maker_fee,
        optimisation.taker_fee,
        optimisation.slippage_bps,
        "next_open",
        optimisation.symbol,
    )
    result = backtest_execute(settings=settings, bars=bars)
    last_in_sample = bars.datetime_at(split - 1)
    pnls = [float(trade.pnl) for trade in result.trades if trade.entry_time <= last_in_sample]
    profit = sum(p for p in pnls if p > 0)
    loss = -sum(p for p in pnls if p < 0)
    return profit / loss if loss > 0 else None


def _objective(optimisation: Optimisation, objective: str, row: dict[str, Any]) -> float | None:
    metrics = row["in_sample"]
    if objective == "return":
        return metrics["total_return"]
    if objective == "calmar":
        annual, drawdown = metrics["annualised_return"], metrics["max_drawdown"]
        return annual / drawdown if annual is not None and drawdown else None
    return _in_sample_profit_factor(optimisation, row["params"])


def _ranked(values: list[float | None]) -> list[float | None]:
    """Best first; a candidate with no score goes last."""
    return sorted(values, key=lambda v: (v is None, -(v or 0.0)))


def _page_rows(page: str) -> list[tuple[str, str]]:
    table = re.search(r'<table class="results" data-testid="optimisation-results">.*?</table>', page, re.S)
    assert table
    rows = re.findall(r'<tr><td><code>(.*?)</code>.*?<td class="num">(.*?)</td>', table.group(0), re.S)
    return [(html_lib.unescape(params), score.strip()) for params, score in rows]


def _three(value: float | None) -> str:
    """As the table writes a score (`floatformat:3|default:"–"`)."""
    return "–" if value is None else floatformat(value, 3)


@pytest.mark.parametrize("objective", ["return", "calmar", "profit_factor"])
def test_the_results_are_ranked_by_the_chosen_objective_best_first(client: Client, symbol, objective) -> None:
    user = UserFactory()
    optimisation = _optimise(user, symbol, objective=objective)

    detail = client.get(f"/api/v1/optimisations/{optimisation.pk}/", headers=bearer(user)).json()

    assert detail["objective"] == objective and detail["status"] == "done"
    results = detail["results"]
    assert sorted((r["params"]["fast"], r["params"]["slow"]) for r in results) == [(f, s) for f in (3, 6, 10) for s in (25, 40, 450)]
    expected = {(r["params"]["fast"], r["params"]["slow"]): _objective(optimisation, objective, r) for r in results}
    for row in results:
        value = expected[(row["params"]["fast"], row["params"]["slow"])]
        if value is None:
            assert row["score"] is None, row
        else:
            assert row["score"] == pytest.approx(value, rel=1e-9, abs=1e-12), row
    scored = [r["score"] for r in results if r["score"] is not None]
    assert len(set(scored)) >= 3  # the candidates are told apart by this objective
    assert scored == sorted(scored, reverse=True)  # the API lists the scored candidates best first
    assert [r["score"] for r in results] == [*scored, *[None] * (len(results) - len(scored))]  # and the unscored ones last
    assert max(scored) == max(v for v in expected.values() if v is not None)

    client.force_login(user)
    rows = _page_rows(client.get(f"/backtests/optimisations/{optimisation.pk}/").content.decode())
    assert len(rows) == 9
    by_text = {f"fast={f}, slow={s}": value for (f, s), value in expected.items()}
    assert [score for _, score in rows] == [_three(v) for v in _ranked(list(expected.values()))]  # the page: best first, unscored last
    for params_text, score in rows:
        assert score == _three(by_text[params_text])


def test_the_random_method_scores_exactly_the_requested_number_of_distinct_sets_within_the_ranges(client: Client, symbol) -> None:
    user = UserFactory()
    space = {"fast": {"min": 2, "max": 12}, "slow": {"min": 20, "max": 60, "step": 5}}  # 11 x 9 = 99 sets

    optimisation = _optimise(user, symbol, param_space=space, method="random", max_runs=7, objective="return")

    assert (optimisation.total_runs, optimisation.completed_runs) == (7, 7)
    detail = client.get(f"/api/v1/optimisations/{optimisation.pk}/", headers=bearer(user)).json()
    results = detail["results"]
    assert detail["completed_runs"] == 7 and detail["progress"] == 100
    sets = [(r["params"]["fast"], r["params"]["slow"]) for r in results]
    assert len(sets) == 7 and len(set(sets)) == 7  # seven parameter sets, none twice
    assert all(set(r["params"]) == {"fast", "slow"} for r in results)
    for fast, slow in sets:
        assert isinstance(fast, int) and 2 <= fast <= 12
        assert isinstance(slow, int) and 20 <= slow <= 60 and slow % 5 == 0
    assert set(sets) != {(f, s) for f in range(2, 13) for s in range(20, 61, 5)}.intersection(
        (2, s) for s in range(20, 51, 5)
    )  # drawn, not the first grid points
    scores = [r["score"] for r in results]
    assert all(s is not None and not math.isnan(s) for s in scores)
    assert scores == sorted(scores, reverse=True)
    for row in results:
        assert row["score"] == pytest.approx(row["in_sample"]["total_return"], rel=1e-12)
        assert "total_return" in row["out_of_sample"]
    assert OptimisationResult.objects.filter(optimisation=optimisation).count() == 7
