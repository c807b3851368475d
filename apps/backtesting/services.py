"""Backtests: validated when created, run by a Celery worker (or the command), results stored.

The same engine serves the page, the API and `manage.py backtest`: `backtest_execute`
turns a config and bars into stored, JSON-safe results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.backtesting.data import stored_bars
from apps.backtesting.domain.engine import DEFAULT_LIQUIDATION_FEE, BacktestConfig, BacktestResult, default_rules, run_backtest
from apps.backtesting.models import Backtest, FillMode, RunStatus
from apps.core.broadcast import push_partial_to_user
from apps.core.errors import ApplicationError, ValidationError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.domain.types import MarketType
from apps.exchanges.models import Symbol
from apps.orders.domain.model import MarginMode, SymbolRules
from apps.orders.services.liquidation import liquidation_fee_rate
from apps.orders.services.market_inputs import symbol_rules
from apps.strategies.domain.base import StrategyParameterError
from apps.strategies.domain.data import OHLCV
from apps.strategies.domain.registry import create_strategy, get_strategy

MAX_EQUITY_POINTS = 5000
MAX_LISTED_REFUSALS = 1000  # the result lists this many refused / re-sized orders (all are counted)
MARKETS = ("spot", "perpetual")
MARGIN_MODES = ("isolated", "cross")
STALE_RUN = timedelta(seconds=1900)  # run_backtest_task's hard time limit: a run "running" longer than that is dead
Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class BacktestSettings:
    strategy: str
    params: dict[str, Any]
    timeframe: str
    initial_capital: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    slippage_bps: Decimal
    fill_mode: str
    symbol: Symbol | None = None
    market: str | None = None  # "spot" or "perpetual"; None: the symbol's market (spot for a CSV file)
    leverage: int = 1
    margin_mode: str = "isolated"


def validated_params(strategy: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The strategy's parameters, checked and completed with defaults (errors name the field)."""
    try:
        cls = get_strategy(strategy)
    except ApplicationError as exc:
        raise ValidationError.for_field("strategy", exc.message) from None
    try:
        return cls.Params.from_dict(params or {}).to_dict()
    except StrategyParameterError as exc:
        # Its extra names the field, its message does not ("must be at least 1"): say which one.
        message = exc.message if exc.message.startswith(f"{exc.field}") else f"{exc.field}: {exc.message}"
        raise ValidationError(message, code=exc.code, extra=exc.extra) from None
    except (TypeError, ValueError) as exc:
        raise ValidationError.for_field("params", str(exc)) from None


def _check_settings(settings: BacktestSettings) -> None:
    if settings.timeframe not in TIMEFRAMES:
        raise ValidationError.for_field("timeframe", f"Unknown timeframe {settings.timeframe!r}; use one of {', '.join(TIMEFRAMES)}.")
    if settings.initial_capital <= 0:
        raise ValidationError.for_field("initial_capital", f"The initial capital must be positive, not {settings.initial_capital}.")
    for name in ("maker_fee", "taker_fee"):
        value = getattr(settings, name)
        if not Decimal("-0.01") <= value <= Decimal("0.05"):
            raise ValidationError.for_field(name, f"{name.replace('_', ' ').capitalize()} {value} is outside -1 %..5 % (write 0.001 for 0.1 %).")
    if not Decimal(0) <= settings.slippage_bps <= Decimal(1000):
        raise ValidationError.for_field("slippage_bps", "Slippage must be between 0 and 1000 basis points.")
    if settings.fill_mode not in FillMode.values:
        raise ValidationError.for_field("fill_mode", "Fill at next_open or close.")
    rules = market_rules(settings)
    if settings.margin_mode not in MARGIN_MODES:
        raise ValidationError.for_field("margin_mode", f"Margin mode {settings.margin_mode!r} is neither isolated nor cross.")
    if rules.is_perpetual:
        if not 1 <= settings.leverage <= rules.max_leverage:
            raise ValidationError.for_field("leverage", f"Leverage {settings.leverage} is outside {rules.symbol}'s range 1..{rules.max_leverage}.")
    elif settings.leverage != 1:
        raise ValidationError.for_field("leverage", f"Leverage {settings.leverage} needs a perpetual market: spot trades without leverage.")
    _check_fraction(settings, rules)


def _check_fraction(settings: BacktestSettings, rules: SymbolRules) -> None:
    """A position sized as a fraction of equity above what the market can carry (1 on spot, the leverage on a perpetual)."""
    params = settings.params or {}
    fraction = params.get("fraction")
    if not isinstance(fraction, int | float) or params.get("sizing", "fraction") != "fraction":
        return
    most = settings.leverage if rules.is_perpetual else 1
    if fraction > most:
        where = f"{settings.leverage}x leverage" if rules.is_perpetual else "spot (no leverage)"
        raise ValidationError.for_field("fraction", f"fraction {fraction:g} is above {most}: {where} cannot carry more than {most} x equity.")


def market_rules(settings: BacktestSettings) -> SymbolRules:
    """The market the backtest trades: the stored symbol's rules, or spot / a perpetual for a CSV file."""
    if settings.market is not None and settings.market not in MARKETS:
        raise ValidationError.for_field("market", f"Market {settings.market!r} is neither spot nor perpetual.")
    if settings.symbol is not None:
        rules = symbol_rules(settings.symbol)
        if settings.market is not None and (settings.market == "perpetual") != rules.is_perpetual:
            kind = "a perpetual" if rules.is_perpetual else "a spot market"
            raise ValidationError.for_field("market", f"Market {settings.market} does not match {settings.symbol.symbol}, which is {kind}.")
        return rules
    return default_rules(MarketType.LINEAR_PERPETUAL if settings.market == "perpetual" else MarketType.SPOT)


def engine_config(settings: BacktestSettings) -> BacktestConfig:
    rules = market_rules(settings)
    perpetual = rules.is_perpetual
    return BacktestConfig(
        initial_capital=settings.initial_capital,
        maker_fee=settings.maker_fee,
        taker_fee=settings.taker_fee,
        slippage_bps=settings.slippage_bps,
        fill_at=settings.fill_mode,  # type: ignore[arg-type]
        market_type=MarketType.LINEAR_PERPETUAL if perpetual else MarketType.SPOT,
        leverage=settings.leverage if perpetual else 1,
        margin_mode=MarginMode(settings.margin_mode.upper()),
        rules=rules,
        liquidation_fee=liquidation_fee_rate(settings.symbol.exchange.code) if settings.symbol is not None else DEFAULT_LIQUIDATION_FEE,
    )


def backtest_execute(*, settings: BacktestSettings, bars: OHLCV, progress: Progress | None = None) -> BacktestResult:
    _check_settings(settings)
    strategy = create_strategy(settings.strategy, validated_params(settings.strategy, settings.params))
    if progress:
        progress(20, f"running {settings.strategy} over {len(bars):,} bars")
    return run_backtest(strategy, bars, engine_config(settings))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def result_payload(result: BacktestResult) -> dict[str, Any]:
    """Metrics, trades and an equity curve of at most MAX_EQUITY_POINTS points (last point always kept)."""
    times = result.data.time.astype("datetime64[ms]").astype(np.int64)
    step = max(1, math.ceil(len(times) / MAX_EQUITY_POINTS))
    indices = list(range(0, len(times), step))
    if indices and indices[-1] != len(times) - 1:
        indices.append(len(times) - 1)
    trades = [trade.as_dict() for trade in result.trades]
    if result.open_trade is not None:
        trades.append({**result.open_trade.as_dict(), "open": True})
    listed = {
        "order_refusals": [refusal.as_dict() for refusal in result.refusals[:MAX_LISTED_REFUSALS]],
        "liquidation_list": [liquidation.as_dict() for liquidation in result.liquidations],
    }
    return {
        "metrics": _json_safe({**result.metrics(), **listed, "path": result.path, "elapsed_seconds": result.elapsed}),
        "trades": trades,
        "equity_curve": [[int(times[i]), round(float(result.equity[i]), 8)] for i in indices],
        "bars": len(times),
    }


# Stored backtests -----------------------------------------------------------------------


@transaction.atomic
def backtest_create(
    *,
    actor: Any,
    strategy: str,
    params: dict[str, Any] | None,
    symbol: Symbol,
    timeframe: str,
    start: datetime,
    end: datetime,
    initial_capital: Decimal = Decimal("10000"),
    maker_fee: Decimal = Decimal("0.001"),
    taker_fee: Decimal = Decimal("0.001"),
    slippage_bps: Decimal = Decimal("0"),
    fill_mode: str = FillMode.NEXT_OPEN,
    name: str = "",
) -> Backtest:
    """Validate, store as queued, and hand to a worker after commit."""
    params = validated_params(strategy, params)
    settings = BacktestSettings(strategy, params, timeframe, initial_capital, maker_fee, taker_fee, slippage_bps, fill_mode, symbol)
    _check_settings(settings)
    stored_bars(symbol=symbol, timeframe=timeframe, start=start, end=end)  # fails early, naming the range, when data is missing
    backtest = Backtest.objects.create(
        owner=actor,
        name=name.strip()[:120],
        strategy=strategy,
        params=params,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        initial_capital=initial_capital,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        slippage_bps=slippage_bps,
        fill_mode=fill_mode,
    )
    audit_record(
        actor=actor, action="backtest.created", summary=f"Backtest {strategy} on {symbol} {timeframe}", target=backtest, changes={"params": [None, params]}
    )
    from apps.backtesting.tasks import run_backtest_task

    transaction.on_commit(lambda: run_backtest_task.delay(str(backtest.pk)))
    return backtest


def _set_progress(backtest_id: Any, percent: int) -> None:
    Backtest.objects.filter(pk=backtest_id).update(progress=min(100, max(0, percent)))
    _push_status(backtest_id)


def _stale(backtest: Backtest) -> bool:
    """A run marked running for longer than the task may live: its worker died (the task is redelivered, acks_late)."""
    return backtest.started_at is None or timezone.now() - backtest.started_at > STALE_RUN


def backtest_run(*, backtest_id: Any) -> Backtest:
    """Run a stored backtest (idempotent: a finished or running one is left as it is, unless its run died)."""
    with transaction.atomic():
        # of=("self",): the symbol is a nullable FK (an outer join), which Postgres refuses to lock.
        backtest = Backtest.objects.select_for_update(of=("self",)).select_related("symbol", "symbol__exchange").get(pk=backtest_id)
        if backtest.status == RunStatus.DONE or (backtest.status == RunStatus.RUNNING and not _stale(backtest)):
            return backtest
        backtest.status, backtest.started_at, backtest.progress, backtest.error = RunStatus.RUNNING, timezone.now(), 5, ""
        backtest.save(update_fields=["status", "started_at", "progress", "error", "updated_at"])
    _push_status(backtest.pk)
    try:
        assert backtest.symbol is not None and backtest.start is not None and backtest.end is not None
        bars = stored_bars(symbol=backtest.symbol, timeframe=backtest.timeframe, start=backtest.start, end=backtest.end)
        _set_progress(backtest.pk, 15)
        settings = BacktestSettings(
            backtest.strategy,
            backtest.params,
            backtest.timeframe,
            backtest.initial_capital,
            backtest.maker_fee,
            backtest.taker_fee,
            backtest.slippage_bps,
            backtest.fill_mode,
            backtest.symbol,
        )
        result = backtest_execute(settings=settings, bars=bars, progress=lambda percent, note: _set_progress(backtest.pk, percent))
        _set_progress(backtest.pk, 85)
        payload = result_payload(result)
    except ApplicationError as exc:
        return _finish(backtest, RunStatus.FAILED, error=exc.message)
    except Exception as exc:  # noqa: BLE001 - a bug in a strategy must not leave the run hanging
        return _finish(backtest, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _finish(backtest, RunStatus.DONE, payload=payload)


def _finish(backtest: Backtest, status: str, payload: dict[str, Any] | None = None, error: str = "") -> Backtest:
    with transaction.atomic():
        backtest = Backtest.objects.select_for_update().get(pk=backtest.pk)
        backtest.status, backtest.error, backtest.finished_at = status, error[:2000], timezone.now()
        backtest.progress = 100
        if payload:
            backtest.metrics, backtest.trades, backtest.equity_curve, backtest.bars = (
                payload["metrics"],
                payload["trades"],
                payload["equity_curve"],
                payload["bars"],
            )
        backtest.save()
        audit_record(
            actor=None,
            owner=backtest.owner,
            action=f"backtest.{status}",
            summary=f"Backtest {backtest.strategy}: {status}{': ' + error if error else ''}"[:255],
            target=backtest,
        )
    _push_status(backtest.pk)
    return backtest


def _push_status(backtest_id: Any) -> None:
    backtest = Backtest.objects.select_related("symbol").filter(pk=backtest_id).first()
    if backtest is not None:
        push_partial_to_user(backtest.owner_id, "backtesting/partials.html#backtest-status", {"backtest": backtest, "oob": True})


def trades_csv(backtest: Backtest) -> str:
    import csv
    import io

    out = io.StringIO()
    columns = ["side", "entry_time", "exit_time", "quantity", "entry_price", "exit_price", "fees", "funding", "pnl"]
    writer = csv.writer(out)
    writer.writerow(columns)
    for trade in backtest.trades:
        writer.writerow([trade.get(column, "") if trade.get(column) is not None else "" for column in columns])
    return out.getvalue()


def equity_csv(backtest: Backtest) -> str:
    lines = ["timestamp,equity"]
    lines += [f"{datetime.fromtimestamp(point[0] / 1000, tz=UTC).isoformat()},{point[1]}" for point in backtest.equity_curve]
    return "\n".join(lines) + "\n"
