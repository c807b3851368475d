"""Optimisation: search spaces, scoring in and out of sample, fan-out over real Celery workers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.domain.search import SearchSpaceError, dimensions, grid, next_generation, random_sample
from apps.backtesting.models import Optimisation, OptimisationResult
from apps.backtesting.optimisation.services import finish_batch, first_candidates, optimisation_create, run_candidates
from apps.core.errors import ValidationError
from apps.exchanges.models import Symbol
from apps.market.services.demo import sim_history_seed
from apps.strategies.domain.registry import get_strategy

SCHEMA = get_strategy("sma_cross").Params.json_schema()


def test_a_grid_enumerates_every_combination_in_order() -> None:
    dims = dimensions({"fast": {"min": 5, "max": 15, "step": 5}, "slow": {"values": [30, 40]}}, SCHEMA)

    assert grid(dims, 100) == [{"fast": f, "slow": s} for f in (5, 10, 15) for s in (30, 40)]
    assert len(grid(dims, 4)) == 4


def test_random_samples_are_distinct_and_repeatable() -> None:
    dims = dimensions({"fast": {"min": 2, "max": 40}, "slow": {"min": 41, "max": 200}}, SCHEMA)

    first = random_sample(dims, 25, seed=7)
    assert len({tuple(c.values()) for c in first}) == 25
    assert first == random_sample(dims, 25, seed=7)


def test_a_genetic_generation_never_repeats_a_tried_candidate() -> None:
    dims = dimensions({"fast": {"min": 2, "max": 20}, "slow": {"min": 21, "max": 60}}, SCHEMA)
    scored = [(c, float(c["fast"])) for c in random_sample(dims, 10, seed=1)]
    seen = {tuple(c.values()) for c, _ in scored}

    children = next_generation(dims, scored, 8, seed=2, seen=seen)

    assert children
    assert not {tuple(c.values()) for c in children} & seen


@pytest.mark.parametrize(
    ("space", "field"),
    [({"nope": {"values": [1]}}, "nope"), ({"fast": {"min": 10, "max": 5}}, "fast"), ({"fast": {"values": []}}, "fast"), ({}, "param_space")],
)
def test_a_bad_search_space_names_the_parameter(space, field) -> None:
    with pytest.raises(SearchSpaceError) as caught:
        dimensions(space, SCHEMA)
    assert caught.value.field == field


@pytest.fixture
def sim_day(db):
    sim_history_seed(days=1)
    symbol = Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return symbol, end - timedelta(hours=20), end


def _create(user, symbol, start, end, **overrides):
    values = {
        "actor": user,
        "strategy": "sma_cross",
        "param_space": {"fast": {"values": [5, 10]}, "slow": {"values": [30, 60]}},
        "objective": "sharpe",
        "method": "grid",
        "max_runs": 10,
        "symbol": symbol,
        "timeframe": "1m",
        "start": start,
        "end": end,
        "walk_forward_windows": 2,
    }
    return optimisation_create(**{**values, **overrides})


def test_candidates_are_scored_in_sample_and_out_of_sample(sim_day) -> None:
    symbol, start, end = sim_day
    optimisation = _create(UserFactory(), symbol, start, end)
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")

    assert run_candidates(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation)) == 4
    finish_batch(optimisation_id=optimisation.pk)

    optimisation.refresh_from_db()
    assert optimisation.status == "done" and optimisation.completed_runs == 4
    row = OptimisationResult.objects.filter(optimisation=optimisation).first()
    assert {"sharpe", "total_return", "max_drawdown"} <= set(row.in_sample)
    assert len(row.out_of_sample["windows"]) == 2
    assert row.score == row.in_sample["sharpe"]


def test_walk_forward_refits_per_window_on_the_data_before_it(sim_day) -> None:
    symbol, start, end = sim_day
    # Total return is defined on every prefix; Sharpe is computed on daily returns, which a
    # prefix inside one UTC day does not have, so it would depend on the hour the test runs.
    optimisation = _create(UserFactory(), symbol, start, end, objective="return")
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")
    run_candidates(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation))

    finish_batch(optimisation_id=optimisation.pk)

    optimisation.refresh_from_db()
    windows = optimisation.walk_forward["windows"]
    assert [w["window"] for w in windows] == [1, 2]
    results = list(OptimisationResult.objects.filter(optimisation=optimisation))
    for index, window in enumerate(windows):
        fitted = {str(r.params): r.out_of_sample["windows"][index]["fitted_on_objective"] for r in results}
        scored = {key: value for key, value in fitted.items() if value is not None}
        assert str(window["params"]) == max(scored, key=scored.get)  # chosen on the data before the window only
        assert "total_return" in window["out_of_sample"]
    returns = [w["out_of_sample"]["total_return"] for w in windows]
    assert abs(optimisation.walk_forward["compounded_return"] - ((1 + returns[0]) * (1 + returns[1]) - 1)) < 1e-12


def test_a_chunk_run_twice_stores_each_candidate_once(sim_day) -> None:
    symbol, start, end = sim_day
    optimisation = _create(UserFactory(), symbol, start, end)
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")
    candidates = first_candidates(optimisation)

    run_candidates(optimisation_id=optimisation.pk, candidates=candidates)
    run_candidates(optimisation_id=optimisation.pk, candidates=candidates)

    assert OptimisationResult.objects.filter(optimisation=optimisation).count() == 4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"objective": "luck"}, "objective"),
        ({"method": "magic"}, "method"),
        ({"max_runs": 0}, "max_runs"),
        ({"param_space": {"fast": {"values": [5000]}}}, "param_space"),
        ({"in_sample_fraction": Decimal("0.99")}, "in_sample_fraction"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_nothing_is_stored(sim_day, overrides, field) -> None:
    symbol, start, end = sim_day
    with pytest.raises(ValidationError) as caught:
        _create(UserFactory(), symbol, start, end, **overrides)
    assert field in caught.value.extra["fields"]
    assert not Optimisation.objects.exists()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_an_optimisation_fans_out_over_the_real_workers_and_finishes(celery_worker_process) -> None:
    sim_history_seed(days=1)
    symbol = Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    optimisation = _create(
        UserFactory(),
        symbol,
        end - timedelta(hours=12),
        end,
        method="genetic",
        max_runs=12,
        param_space={"fast": {"min": 3, "max": 20}, "slow": {"min": 25, "max": 80, "step": 5}},
    )

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        optimisation.refresh_from_db()
        if optimisation.status in ("done", "failed"):
            break
        time.sleep(0.5)

    assert optimisation.status == "done", optimisation.error
    assert 4 <= optimisation.completed_runs <= 12
    assert OptimisationResult.objects.filter(optimisation=optimisation).count() == optimisation.completed_runs


def test_a_candidate_whose_strategy_raises_is_recorded_with_its_error_and_the_search_finishes(sim_day, monkeypatch) -> None:
    from apps.backtesting.optimisation import services as optimisation_module
    from apps.strategies.domain.base import StrategyError

    symbol, start, end = sim_day
    optimisation = _create(UserFactory(), symbol, start, end)
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")
    real_execute = optimisation_module.backtest_execute

    def execute(*, settings, bars):
        if settings.params["fast"] == 10:
            raise StrategyError("sma_cross", "on_bar", "division by zero")
        return real_execute(settings=settings, bars=bars)

    monkeypatch.setattr(optimisation_module, "backtest_execute", execute)

    assert run_candidates(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation)) == 4
    finish_batch(optimisation_id=optimisation.pk)

    optimisation.refresh_from_db()
    assert optimisation.status == "done" and optimisation.completed_runs == 4
    failed = OptimisationResult.objects.filter(optimisation=optimisation, params__fast=10)
    assert failed.count() == 2 and all(
        row.in_sample == {"error": "strategy 'sma_cross' failed in on_bar: division by zero"} and row.score is None for row in failed
    )


def test_a_chunk_that_cannot_run_fails_the_optimisation_instead_of_leaving_it_running(sim_day, monkeypatch) -> None:
    from apps.audit.models import AuditEvent
    from apps.backtesting.optimisation import services as optimisation_module
    from apps.backtesting.tasks import run_candidates_task

    symbol, start, end = sim_day
    optimisation = _create(UserFactory(), symbol, start, end)
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")

    def no_bars(*args, **kwargs):
        raise RuntimeError("candles unavailable")

    monkeypatch.setattr(optimisation_module, "_bars", no_bars)

    outcome = run_candidates_task.apply(args=(str(optimisation.pk), first_candidates(optimisation)))

    assert outcome.failed()
    optimisation.refresh_from_db()
    assert optimisation.status == "failed" and optimisation.error == "RuntimeError: candles unavailable"
    assert AuditEvent.objects.filter(action="optimisation.failed", owner=optimisation.owner).exists()
