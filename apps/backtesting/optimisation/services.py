"""Optimisation: candidates fan out over the Celery workers in chunks; each chunk runs full
backtests with the shared engine and scores each in-sample and out-of-sample.

Each candidate is one backtest over the whole range (the strategy only ever sees closed
bars), scored on the in-sample slice and on the out-of-sample slice of that one equity
path. With walk-forward windows the out-of-sample part is cut into consecutive windows
and each is scored, which shows whether an edge holds up over time; parameters are not
re-fitted per window.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from celery import chord, group
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.backtesting.data import stored_bars
from apps.backtesting.domain.metrics import compute
from apps.backtesting.domain.search import SearchSpaceError, dimensions, grid, next_generation, random_sample, space_size
from apps.backtesting.models import Optimisation, OptimisationMethod, OptimisationResult, RunStatus
from apps.backtesting.services import BacktestSettings, _check_settings, backtest_execute, validated_params
from apps.core.broadcast import push_partial_to_user
from apps.core.errors import ValidationError
from apps.exchanges.models import Symbol
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.data import OHLCV
from apps.strategies.domain.registry import get_strategy

OBJECTIVES = {"sharpe": "sharpe", "return": "total_return", "calmar": "calmar", "profit_factor": "profit_factor"}
MAX_RUNS = 2000
CHUNK_SIZE = 10
GENETIC_GENERATIONS = 5
_BARS_CACHE: OrderedDict[tuple[Any, ...], OHLCV] = OrderedDict()

logger = logging.getLogger(__name__)


def _bars(symbol: Symbol, timeframe: str, start: datetime, end: datetime) -> OHLCV:
    """Bars for a range, kept per worker process: every chunk of one optimisation reads them once."""
    key = (symbol.pk, timeframe, start, end)
    if key not in _BARS_CACHE:
        _BARS_CACHE[key] = stored_bars(symbol=symbol, timeframe=timeframe, start=start, end=end)
        while len(_BARS_CACHE) > 4:
            _BARS_CACHE.popitem(last=False)
    _BARS_CACHE.move_to_end(key)
    return _BARS_CACHE[key]


@transaction.atomic
def optimisation_create(
    *,
    actor: Any,
    strategy: str,
    param_space: dict[str, Any],
    objective: str,
    method: str,
    max_runs: int,
    symbol: Symbol,
    timeframe: str,
    start: datetime,
    end: datetime,
    base_params: dict[str, Any] | None = None,
    in_sample_fraction: Decimal = Decimal("0.7"),
    walk_forward_windows: int = 0,
    initial_capital: Decimal = Decimal("10000"),
    fee: Decimal = Decimal("0.001"),
    slippage_bps: Decimal = Decimal(0),
) -> Optimisation:
    if objective not in OBJECTIVES:
        raise ValidationError.for_field("objective", f"Unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}.")
    if method not in OptimisationMethod.values:
        raise ValidationError.for_field("method", f"Unknown method {method!r}; use grid, random or genetic.")
    if not 1 <= max_runs <= MAX_RUNS:
        raise ValidationError.for_field("max_runs", f"Between 1 and {MAX_RUNS} runs.")
    if not Decimal("0.1") <= in_sample_fraction <= Decimal("0.95"):
        raise ValidationError.for_field("in_sample_fraction", "Keep between 10 % and 95 % of the data in-sample.")
    if not 0 <= walk_forward_windows <= 12:
        raise ValidationError.for_field("walk_forward_windows", "Between 0 and 12 windows.")
    base = validated_params(strategy, base_params or {})
    try:
        dims = dimensions(param_space, get_strategy(strategy).Params.json_schema())
    except SearchSpaceError as exc:
        raise ValidationError(f"{exc.field}: {exc.message}", extra={"fields": {"param_space": [f"{exc.field}: {exc.message}"]}}) from None
    settings = BacktestSettings(strategy, base, timeframe, initial_capital, fee, fee, slippage_bps, "next_open", symbol)
    _check_settings(settings)
    stored_bars(symbol=symbol, timeframe=timeframe, start=start, end=end)
    optimisation = Optimisation.objects.create(
        owner=actor,
        strategy=strategy,
        base_params=base,
        param_space=param_space,
        objective=objective,
        method=method,
        max_runs=max_runs,
        in_sample_fraction=in_sample_fraction,
        walk_forward_windows=walk_forward_windows,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        initial_capital=initial_capital,
        taker_fee=fee,
        maker_fee=fee,
        slippage_bps=slippage_bps,
        total_runs=min(max_runs, space_size(dims)),
    )
    audit_record(actor=actor, action="optimisation.created", summary=f"Optimisation of {strategy} ({method}, {objective})", target=optimisation)
    from apps.backtesting.tasks import start_optimisation_task

    transaction.on_commit(lambda: start_optimisation_task.delay(str(optimisation.pk)))
    return optimisation


def first_candidates(optimisation: Optimisation) -> list[dict[str, Any]]:
    dims = dimensions(optimisation.param_space, get_strategy(optimisation.strategy).Params.json_schema())
    seed = int(optimisation.pk.int % 2**31)
    if optimisation.method == OptimisationMethod.GRID:
        return grid(dims, optimisation.max_runs)
    if optimisation.method == OptimisationMethod.RANDOM:
        return random_sample(dims, min(optimisation.max_runs, space_size(dims)), seed)
    return random_sample(dims, min(_generation_size(optimisation), space_size(dims)), seed)


def _generation_size(optimisation: Optimisation) -> int:
    return max(4, math.ceil(optimisation.max_runs / GENETIC_GENERATIONS))


def optimisation_dispatch(*, optimisation_id: Any, candidates: list[dict[str, Any]]) -> None:
    """Fan a batch of candidates out in chunks; the chord's callback moves on or finishes."""
    from apps.backtesting.tasks import finish_batch_task, run_candidates_task

    chunks = [candidates[i : i + CHUNK_SIZE] for i in range(0, len(candidates), CHUNK_SIZE)]
    if not chunks:
        finish_batch_task.delay(str(optimisation_id))
        return
    chord(group(run_candidates_task.s(str(optimisation_id), chunk) for chunk in chunks))(finish_batch_task.si(str(optimisation_id)))


def optimisation_start(*, optimisation_id: Any) -> None:
    with transaction.atomic():
        optimisation = Optimisation.objects.select_for_update().get(pk=optimisation_id)
        if optimisation.status != RunStatus.QUEUED:
            return
        optimisation.status, optimisation.started_at = RunStatus.RUNNING, timezone.now()
        optimisation.save(update_fields=["status", "started_at", "updated_at"])
        audit_record(
            actor=None,
            owner=optimisation.owner,
            action="optimisation.started",
            summary=f"Optimisation {optimisation.pk} started",
            target=optimisation,
            changes={"status": [RunStatus.QUEUED, RunStatus.RUNNING]},
        )
    optimisation_dispatch(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation))


def _slice_metrics(result: Any, start: int, end: int, initial: float) -> dict[str, Any]:
    data = result.data
    equity = result.equity[start:end]
    if equity.size < 2:
        return {}
    opening = float(result.equity[start - 1]) if start > 0 else initial
    begin, finish = data.time[start], data.time[end - 1]
    trades = [
        t for t in result.trades if np.datetime64(t.entry_time.replace(tzinfo=None)) >= begin and np.datetime64(t.entry_time.replace(tzinfo=None)) <= finish
    ]
    metrics = compute(
        equity=equity,
        times=data.time[start:end],
        close=data.close[start:end],
        position=result.position[start:end],
        trades=trades,
        initial=opening,
        bar_seconds=data.bar_seconds() or 60.0,
    )
    keep = ("total_return", "annualised_return", "sharpe", "sortino", "calmar", "max_drawdown", "trades", "win_rate", "profit_factor")
    return {key: _finite(metrics.get(key)) for key in keep}


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def run_candidates(*, optimisation_id: Any, candidates: list[dict[str, Any]]) -> int:
    optimisation = Optimisation.objects.select_related("symbol").get(pk=optimisation_id)
    if optimisation.status != RunStatus.RUNNING:
        return 0
    bars = _bars(optimisation.symbol, optimisation.timeframe, optimisation.start, optimisation.end)
    n = len(bars)
    split = max(2, min(n - 2, int(n * float(optimisation.in_sample_fraction))))
    windows = optimisation.walk_forward_windows
    edges = [split + round(i * (n - split) / windows) for i in range(windows + 1)] if windows else [split, n]
    metric = OBJECTIVES[optimisation.objective]
    done = 0
    for candidate in candidates:
        params = {**optimisation.base_params, **candidate}
        settings = BacktestSettings(
            optimisation.strategy,
            params,
            optimisation.timeframe,
            optimisation.initial_capital,
            optimisation.maker_fee,
            optimisation.taker_fee,
            optimisation.slippage_bps,
            "next_open",
            optimisation.symbol,
        )
        initial = float(optimisation.initial_capital)
        try:
            result = backtest_execute(settings=settings, bars=bars)
            in_sample = _slice_metrics(result, 0, split, initial)
            windows_oos = [_slice_metrics(result, edges[i], edges[i + 1], initial) for i in range(len(edges) - 1)]
            if windows:
                # The strategy is causal, so the prefix of this run is exactly a run on the prefix:
                # its score there is what an optimisation ending at the window's start would see.
                for index, window in enumerate(windows_oos):
                    window["fitted_on_objective"] = _slice_metrics(result, 0, edges[index], initial).get(metric)
        except (ValidationError, StrategyError) as exc:
            in_sample, windows_oos = {"error": exc.message}, []
        except Exception as exc:  # one candidate that crashes the engine is that candidate's error, not the search's
            logger.exception("optimisation %s: candidate %s failed", optimisation.pk, candidate)
            in_sample, windows_oos = {"error": f"{type(exc).__name__}: {exc}"}, []
        out_of_sample = windows_oos[0] if len(windows_oos) == 1 else _mean_metrics(windows_oos)
        if len(windows_oos) > 1:
            out_of_sample["windows"] = windows_oos
        score = in_sample.get(metric)
        try:
            with transaction.atomic():
                OptimisationResult.objects.create(optimisation=optimisation, params=candidate, in_sample=in_sample, out_of_sample=out_of_sample, score=score)
        except IntegrityError:
            continue  # a retried chunk: this candidate is already stored
        done += 1
    Optimisation.objects.filter(pk=optimisation.pk).update(completed_runs=F("completed_runs") + done)
    _push_progress(optimisation.pk)
    return done


def _mean_metrics(windows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {key for window in windows for key in window}
    mean: dict[str, Any] = {}
    for key in keys:
        values = [w[key] for w in windows if isinstance(w.get(key), int | float)]
        mean[key] = sum(values) / len(values) if values else None
    return mean


def finish_batch(*, optimisation_id: Any) -> None:
    """After a batch: the next genetic generation, or the end."""
    optimisation = Optimisation.objects.get(pk=optimisation_id)
    if optimisation.status != RunStatus.RUNNING:
        return
    results = list(optimisation.results.values_list("params", "score"))
    if optimisation.method == OptimisationMethod.GENETIC and len(results) < optimisation.total_runs:
        dims = dimensions(optimisation.param_space, get_strategy(optimisation.strategy).Params.json_schema())
        names = [dim.name for dim in dims]
        seen = {tuple(params[name] for name in names) for params, _ in results}
        scored = [(params, score if score is not None else -math.inf) for params, score in results]
        size = min(_generation_size(optimisation), optimisation.total_runs - len(results))
        children = next_generation(dims, scored, size, seed=len(results), seen=seen)
        if children:
            optimisation_dispatch(optimisation_id=optimisation.pk, candidates=children)
            return
        Optimisation.objects.filter(pk=optimisation.pk).update(total_runs=len(results))
    with transaction.atomic():
        optimisation = Optimisation.objects.select_for_update().get(pk=optimisation_id)
        optimisation.status, optimisation.finished_at = RunStatus.DONE, timezone.now()
        optimisation.total_runs = max(optimisation.completed_runs, 1)
        optimisation.walk_forward = walk_forward_summary(optimisation)
        optimisation.save(update_fields=["status", "finished_at", "total_runs", "walk_forward", "updated_at"])
        audit_record(
            actor=None,
            owner=optimisation.owner,
            action="optimisation.done",
            summary=f"Optimisation of {optimisation.strategy}: {optimisation.completed_runs} runs",
            target=optimisation,
        )
    _push_progress(optimisation.pk)


def walk_forward_summary(optimisation: Optimisation) -> dict[str, Any]:
    """Walk-forward with re-fitting: for each window, the candidate that scored best on all the
    data before the window is chosen, and its result in the window is what counts. The
    windows' returns compound into the walk-forward return."""
    if not optimisation.walk_forward_windows:
        return {}
    rows = list(optimisation.results.values_list("params", "out_of_sample"))
    windows: list[dict[str, Any]] = []
    compounded = 1.0
    for index in range(optimisation.walk_forward_windows):
        best: tuple[float, dict[str, Any], dict[str, Any]] | None = None
        for params, out_of_sample in rows:
            per_window = (out_of_sample or {}).get("windows") or ([out_of_sample] if out_of_sample and "fitted_on_objective" in out_of_sample else [])
            if index >= len(per_window):
                continue
            fitted = per_window[index].get("fitted_on_objective")
            if isinstance(fitted, int | float) and (best is None or fitted > best[0]):
                best = (fitted, params, per_window[index])
        if best is None:
            windows.append({"window": index + 1, "params": None})
            continue
        window_return = best[2].get("total_return")
        if isinstance(window_return, int | float):
            compounded *= 1 + window_return
        windows.append(
            {
                "window": index + 1,
                "params": best[1],
                "fitted_on_objective": best[0],
                "out_of_sample": {k: v for k, v in best[2].items() if k != "fitted_on_objective"},
            }
        )
    return {"windows": windows, "compounded_return": compounded - 1, "objective": optimisation.objective}


def _push_progress(optimisation_id: Any) -> None:
    optimisation = Optimisation.objects.filter(pk=optimisation_id).first()
    if optimisation is not None:
        push_partial_to_user(optimisation.owner_id, "backtesting/partials.html#optimisation-status", {"optimisation": optimisation, "oob": True})


def optimisation_fail(*, optimisation_id: Any, error: str) -> None:
    """Stop a queued or running optimisation with the reason; a finished one stays as it is."""
    with transaction.atomic():
        optimisation = Optimisation.objects.select_for_update().filter(pk=optimisation_id).first()
        if optimisation is None or optimisation.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return
        optimisation.status, optimisation.error, optimisation.finished_at = RunStatus.FAILED, error[:2000], timezone.now()
        optimisation.save(update_fields=["status", "error", "finished_at", "updated_at"])
        audit_record(
            actor=None,
            owner=optimisation.owner,
            action="optimisation.failed",
            summary=f"Optimisation of {optimisation.strategy} failed: {error}"[:255],
            target=optimisation,
        )
        transaction.on_commit(lambda: _push_progress(optimisation_id))
