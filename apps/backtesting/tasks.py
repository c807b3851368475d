from __future__ import annotations

from celery import shared_task

from apps.backtesting.services import backtest_run
from apps.core.rls import acting_for_owner_of


@shared_task(name="backtesting.run_backtest", acks_late=True, soft_time_limit=1800, time_limit=1900)
@acting_for_owner_of("backtesting.Backtest", "backtest_id", "owner_id")
def run_backtest_task(backtest_id: str) -> str:
    return backtest_run(backtest_id=backtest_id).status


@shared_task(name="backtesting.start_optimisation", acks_late=True)
@acting_for_owner_of("backtesting.Optimisation", "optimisation_id", "owner_id")
def start_optimisation_task(optimisation_id: str) -> None:
    from apps.backtesting.optimisation.services import optimisation_fail, optimisation_start

    try:
        optimisation_start(optimisation_id=optimisation_id)
    except Exception as exc:
        optimisation_fail(optimisation_id=optimisation_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task(name="backtesting.run_candidates", acks_late=True, soft_time_limit=1800, time_limit=1900)
@acting_for_owner_of("backtesting.Optimisation", "optimisation_id", "owner_id")
def run_candidates_task(optimisation_id: str, candidates: list[dict]) -> int:  # type: ignore[type-arg]
    """A chunk that cannot run at all fails the optimisation: the chord would otherwise wait for ever."""
    from apps.backtesting.optimisation.services import optimisation_fail, run_candidates

    try:
        return run_candidates(optimisation_id=optimisation_id, candidates=candidates)
    except Exception as exc:
        optimisation_fail(optimisation_id=optimisation_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task(name="backtesting.finish_batch", acks_late=True)
@acting_for_owner_of("backtesting.Optimisation", "optimisation_id", "owner_id")
def finish_batch_task(optimisation_id: str) -> None:
    from apps.backtesting.optimisation.services import finish_batch, optimisation_fail

    try:
        finish_batch(optimisation_id=optimisation_id)
    except Exception as exc:
        optimisation_fail(optimisation_id=optimisation_id, error=f"{type(exc).__name__}: {exc}")
        raise
