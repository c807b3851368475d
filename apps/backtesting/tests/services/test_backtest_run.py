"""backtest_run: results stored on success, a clear message on failure, the status pushed as HTML."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.backtesting import services
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.services import backtest_create, backtest_run
from apps.backtesting.tests.factories import START, seed_candles
from apps.market.models import Candle

pytestmark = pytest.mark.django_db


def _queued(trader, symbol, django_capture_on_commit_callbacks, **params) -> Backtest:
    with django_capture_on_commit_callbacks(execute=False):
        return backtest_create(
            actor=trader,
            strategy="sma_cross",
            params={"fast": 10, "slow": 30, "mode": "long_only", **params},
            symbol=symbol,
            timeframe="1m",
            start=START,
            end=START + timedelta(hours=10),
        )


def test_a_run_stores_metrics_trades_and_the_equity_curve(trader, symbol, django_capture_on_commit_callbacks) -> None:
    candles = seed_candles(symbol, count=600)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)

    backtest = backtest_run(backtest_id=queued.pk)

    backtest.refresh_from_db()
    assert (backtest.status, backtest.progress, backtest.error) == (RunStatus.DONE, 100, "")
    assert backtest.started_at and backtest.finished_at and backtest.finished_at >= backtest.started_at
    assert backtest.bars == 600 and len(backtest.equity_curve) == 600
    assert backtest.equity_curve[0][0] == int(candles[0].open_time.timestamp() * 1000)
    assert backtest.equity_curve[-1][0] == int(candles[-1].open_time.timestamp() * 1000)
    metrics = backtest.metrics
    assert metrics["trades"] == len([t for t in backtest.trades if not t.get("open")]) > 0
    assert metrics["final_equity"] == pytest.approx(backtest.equity_curve[-1][1])
    assert metrics["total_return"] == pytest.approx(metrics["final_equity"] / 10_000 - 1)
    for key in ("sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor", "exposure", "buy_and_hold_return", "annualisation"):
        assert key in metrics, key
    assert metrics["monthly_returns"] == {"2025-01": pytest.approx(metrics["total_return"])}
    assert {"side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "fees", "pnl"} <= set(backtest.trades[0])


def test_running_a_finished_backtest_again_changes_nothing(trader, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)
    first = backtest_run(backtest_id=queued.pk)

    again = backtest_run(backtest_id=queued.pk)

    assert again.status == RunStatus.DONE and again.finished_at == first.finished_at


def test_a_run_whose_data_went_missing_fails_with_the_reason(trader, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)
    Candle.objects.filter(symbol=symbol).delete()

    backtest = backtest_run(backtest_id=queued.pk)

    backtest.refresh_from_db()
    assert backtest.status == RunStatus.FAILED and backtest.progress == 100
    assert "has 0 stored 1m candles" in backtest.error
    assert backtest.metrics == {} and backtest.trades == [] and backtest.equity_curve == []


def test_a_crash_inside_the_engine_fails_the_run_with_the_exception(trader, symbol, django_capture_on_commit_callbacks, monkeypatch) -> None:
    seed_candles(symbol)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)

    def explode(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a strategy")

    monkeypatch.setattr(services, "run_backtest", explode)

    backtest = backtest_run(backtest_id=queued.pk)

    assert backtest.status == RunStatus.FAILED
    assert Backtest.objects.get(pk=queued.pk).error == "ZeroDivisionError: division by zero in a strategy"


def test_every_step_pushes_the_status_partial_to_the_owner_only(trader, symbol, django_capture_on_commit_callbacks, monkeypatch) -> None:
    seed_candles(symbol)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)
    pushed: list[tuple[object, str]] = []
    monkeypatch.setattr("apps.core.broadcast.user_is_listening", lambda user_id: True)
    monkeypatch.setattr("apps.core.broadcast.send_html_to_user_now", lambda user_id, html: pushed.append((user_id, html)))

    backtest_run(backtest_id=queued.pk)

    assert pushed and {user_id for user_id, _ in pushed} == {trader.pk}
    first, last = pushed[0][1], pushed[-1][1]
    assert f'id="backtest-status-{queued.pk}"' in first and 'hx-swap-oob="true"' in first
    assert 'data-status="running"' in first and "every 2s" in first
    assert 'data-status="done"' in last and "every 2s" not in last


def test_a_run_in_progress_is_left_alone_but_one_whose_worker_died_is_run_again(trader, symbol, django_capture_on_commit_callbacks) -> None:
    from django.utils import timezone

    seed_candles(symbol)
    queued = _queued(trader, symbol, django_capture_on_commit_callbacks)
    Backtest.objects.filter(pk=queued.pk).update(status=RunStatus.RUNNING, started_at=timezone.now(), progress=20)

    assert backtest_run(backtest_id=queued.pk).status == RunStatus.RUNNING  # another worker has it

    Backtest.objects.filter(pk=queued.pk).update(started_at=timezone.now() - services.STALE_RUN - timedelta(seconds=1))

    assert backtest_run(backtest_id=queued.pk).status == RunStatus.DONE
