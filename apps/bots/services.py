"""Writing bots: create, the lifecycle (start, pause, resume, stop), parameters, delete.

Each service is one transaction with an audit event; the bot's card and page are pushed to
its owner after commit. The lifecycle is a transition table: anything else is a 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record, diff_fields
from apps.bots.models import Bot, BotStatus
from apps.bots.runner import (
    LogItem,
    RunnerState,
    bot_log_write,
    initial_capital,
    push_bot_on_commit,
    required_bars,
)
from apps.bots.selectors import bot_get
from apps.core.errors import ApplicationError, ConflictError, NotFoundError, ValidationError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Symbol
from apps.market.selectors import candle_count, candle_newest_open_time
from apps.orders.enums import OPEN_STATUSES
from apps.orders.models import Order
from apps.orders.services.placement import order_cancel
from apps.portfolio.models import TradingAccount
from apps.strategies.domain.base import StrategyParameterError, StrategyParams, UnknownStrategy
from apps.strategies.domain.registry import get_strategy

NAME_MAX = 80
MAX_LIMIT = Decimal("1e15")


class BotErrorCode(StrEnum):
    INVALID_TRANSITION = "bot_invalid_transition"
    NOT_ENOUGH_CANDLES = "bot_not_enough_candles"
    NO_CAPITAL = "bot_no_capital"
    NOT_STOPPED = "bot_not_stopped"
    NAME_TAKEN = "bot_name_taken"


class InvalidBotTransition(ConflictError):
    default_code = BotErrorCode.INVALID_TRANSITION


class BotNotReady(ConflictError):
    default_code = BotErrorCode.NOT_ENOUGH_CANDLES


# action: (from which statuses, to which status)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "start": (frozenset({BotStatus.STOPPED, BotStatus.ERROR}), BotStatus.RUNNING),
    "pause": (frozenset({BotStatus.RUNNING}), BotStatus.PAUSED),
    "resume": (frozenset({BotStatus.PAUSED}), BotStatus.RUNNING),
    "stop": (frozenset({BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.ERROR}), BotStatus.STOPPED),
}


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


def _transition(bot: Bot, action: str) -> str:
    sources, target = TRANSITIONS[action]
    if bot.status not in sources:
        status = BotStatus(bot.status).label.lower()
        possible = allowed_actions(bot.status)
        hint = f"; it can be {_or(possible)}" if possible else ""
        raise InvalidBotTransition(
            f"This bot is {status}: it cannot be {_PAST[action]}{hint}.",
            extra={"status": bot.status, "action": action, "allowed": possible},
        )
    return target


_PAST = {"start": "started", "pause": "paused", "resume": "resumed", "stop": "stopped"}


def _or(actions: list[str]) -> str:
    words = [_PAST[a] for a in actions]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# Validation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotLimits:
    max_position_notional: Decimal | None = None
    max_daily_loss: Decimal | None = None
    max_drawdown_percent: Decimal | None = None


def validate_params(strategy: str, params: dict[str, Any] | None) -> StrategyParams:
    """The strategy's parameters (defaults filled in), or a ValidationError naming the field as `params.<name>`."""
    try:
        cls = get_strategy(strategy)
    except UnknownStrategy as exc:
        raise ValidationError.for_field("strategy", exc.message) from None
    if params is not None and not isinstance(params, dict):
        raise ValidationError.for_field("params", "Parameters must be an object of name: value.")
    try:
        return cls.Params.from_dict(params or {})
    except StrategyParameterError as exc:
        raise ValidationError(
            f"{exc.field}: {exc.message}", code=exc.code, extra={"fields": {f"params.{exc.field}": [exc.message]}, "param": exc.field}
        ) from None
    except TypeError as exc:  # e.g. an unexpected keyword the dataclass refuses
        raise ValidationError.for_field("params", str(exc)) from None


def _validate_limits(limits: BotLimits) -> None:
    for name in ("max_position_notional", "max_daily_loss"):
        value = getattr(limits, name)
        if value is not None and (not value.is_finite() or value <= 0 or value > MAX_LIMIT):
            raise ValidationError.for_field(name, "Must be a positive amount in the quote currency (or empty for no limit).")
    percent = limits.max_drawdown_percent
    if percent is not None and (not percent.is_finite() or percent <= 0 or percent > 100):
        raise ValidationError.for_field("max_drawdown_percent", "Must be a percentage above 0 and at most 100 (or empty for no limit).")


def _limits_dict(bot: Bot) -> dict[str, str | None]:
    return {
        name: (None if getattr(bot, name) is None else str(getattr(bot, name))) for name in ("max_position_notional", "max_daily_loss", "max_drawdown_percent")
    }


# Create --------------------------------------------------------------------------------------------


@transaction.atomic
def bot_create(
    *,
    actor: Any,
    name: str,
    account: TradingAccount,
    symbol: Symbol,
    timeframe: str,
    strategy: str,
    params: dict[str, Any] | None = None,
    limits: BotLimits | None = None,
) -> Bot:
    limits = limits or BotLimits()
    name = (name or "").strip()
    if not name:
        raise ValidationError.for_field("name", "Give the bot a name.")
    if len(name) > NAME_MAX:
        raise ValidationError.for_field("name", f"At most {NAME_MAX} characters.")
    if account.owner_id != actor.pk:
        raise NotFoundError("No such trading account.", extra={"fields": {"account": ["No such trading account."]}})
    if symbol.exchange_id != account.exchange_id:
        raise ValidationError.for_field("symbol", f"{symbol.symbol} is not traded on {account.exchange.name}, the account's exchange.")
    if not symbol.active:
        raise ValidationError.for_field("symbol", f"{symbol.symbol} is not active on {account.exchange.name}.")
    if timeframe not in TIMEFRAMES:
        raise ValidationError.for_field("timeframe", f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}.")
    validated = validate_params(strategy, params)
    _validate_limits(limits)
    try:
        with transaction.atomic():
            bot = Bot.objects.create(
                owner=actor,
                name=name,
                account=account,
                symbol=symbol,
                timeframe=timeframe,
                strategy=strategy,
                params=validated.to_dict(),
                max_position_notional=limits.max_position_notional,
                max_daily_loss=limits.max_daily_loss,
                max_drawdown_percent=limits.max_drawdown_percent,
            )
    except IntegrityError:
        raise ValidationError.for_field("name", f"You already have a bot named {name!r}.", code=BotErrorCode.NAME_TAKEN) from None
    audit_record(
        actor=actor,
        action="bot.created",
        summary=f"Bot {name!r}: {strategy} on {symbol.symbol} {timeframe} ({account.exchange.code}, {account.mode})",
        target=bot,
        changes={"params": [None, bot.params], **{k: [None, v] for k, v in _limits_dict(bot).items() if v is not None}},
    )
    push_bot_on_commit(bot)
    return bot


# Lifecycle -----------------------------------------------------------------------------------------


def _record(bot: Bot, *, actor: Any, action: str, old: str, summary: str, message: str) -> None:
    created = bot_log_write(bot, None, [LogItem("info", message)])
    audit_record(actor=actor, owner=bot.owner, action=f"bot.{action}", summary=summary, target=bot, changes={"status": [old, bot.status]})
    push_bot_on_commit(bot, [entry.pk for entry in created])


@transaction.atomic
def bot_start(*, actor: Any, bot_id: Any) -> Bot:
    """Start (or restart after an error): the bot decides from the next closed bar on.

    Needs enough stored candles for the strategy's warm-up, and a balance in the quote currency.
    The strategy keeps its state across a stop and a start (a parameter change resets it); each
    run calls `on_start` at its first bar, which is the run's bar 0.
    """
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    old = bot.status
    target = _transition(bot, "start")
    params = validate_params(bot.strategy, bot.params)
    need = required_bars(params)
    have = candle_count(symbol_id=bot.symbol_id, timeframe=bot.timeframe, at_most=need)
    if have < need:
        raise BotNotReady(
            f"{bot.symbol.symbol} on {bot.symbol.exchange.code} has {have} stored {bot.timeframe} candles; "
            f"{bot.strategy} with these parameters needs at least {need} before it can start. "
            f"Load history first (manage.py ingest_candles) or pick another timeframe.",
            extra={"symbol": bot.symbol.symbol, "timeframe": bot.timeframe, "have": have, "need": need},
        )
    book = RunnerState.from_state(bot.state, symbol=bot.symbol.symbol, perpetual=bot.symbol.is_perpetual)
    if book.capital <= 0:
        capital = initial_capital(bot)
        if capital <= 0:
            raise BotNotReady(
                f"The account {bot.account.name} has no {bot.symbol.quote} to trade {bot.symbol.symbol} with.",
                code=BotErrorCode.NO_CAPITAL,
                extra={"asset": bot.symbol.quote},
            )
        book.capital = book.cash = capital
    book.started, book.anchor = False, None
    bot.state = {"strategy": (bot.state or {}).get("strategy") or {}, "runner": book.as_json()}
    bot.last_processed_open_time = candle_newest_open_time(symbol_id=bot.symbol_id, timeframe=bot.timeframe)
    bot.status, bot.error, bot.started_at = target, "", timezone.now()
    bot.save(update_fields=["state", "last_processed_open_time", "status", "error", "started_at", "updated_at"])
    last = f"{bot.last_processed_open_time:%Y-%m-%d %H:%M}" if bot.last_processed_open_time else "-"
    _record(
        bot,
        actor=actor,
        action="started",
        old=old,
        summary=f"Bot {bot.name!r} started",
        message=f"started: deciding from the {bot.timeframe} bar after {last} UTC",
    )
    return bot


@transaction.atomic
def bot_pause(*, actor: Any, bot_id: Any) -> Bot:
    """No decisions while paused; its working orders stay (their fills are reported on resume)."""
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    old = bot.status
    bot.status = _transition(bot, "pause")
    bot.save(update_fields=["status", "updated_at"])
    _record(bot, actor=actor, action="paused", old=old, summary=f"Bot {bot.name!r} paused", message="paused by you")
    return bot


@transaction.atomic
def bot_resume(*, actor: Any, bot_id: Any) -> Bot:
    """Back to running from the next closed bar (bars that closed while paused are not replayed).

    Resuming after a risk pause accepts the loss so far: drawdown and daily loss are measured
    again from the equity at the last processed close.
    """
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    old = bot.status
    target = _transition(bot, "resume")
    book = RunnerState.from_state(bot.state, symbol=bot.symbol.symbol, perpetual=bot.symbol.is_perpetual)
    if book.equity is not None:
        bot.peak_equity = book.equity
        book.day_equity = book.equity
        bot.state = {**(bot.state or {}), "runner": book.as_json()}
    newest = candle_newest_open_time(symbol_id=bot.symbol_id, timeframe=bot.timeframe)
    if newest is not None and (bot.last_processed_open_time is None or newest > bot.last_processed_open_time):
        bot.last_processed_open_time = newest
    reason = bot.error
    bot.status, bot.error = target, ""
    bot.save(update_fields=["status", "error", "state", "peak_equity", "last_processed_open_time", "updated_at"])
    _record(
        bot,
        actor=actor,
        action="resumed",
        old=old,
        summary=f"Bot {bot.name!r} resumed",
        message="resumed by you" + (f" (it was paused: {reason})" if reason else ""),
    )
    return bot


def _cancel_working_orders(bot: Bot, actor: Any) -> int:
    canceled = 0
    for order_id in Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).values_list("pk", flat=True):
        try:
            order_cancel(actor=actor, order_id=order_id)
            canceled += 1
        except ApplicationError:
            pass  # it ended meanwhile
    return canceled


@transaction.atomic
def bot_stop(*, actor: Any, bot_id: Any) -> Bot:
    """Stop deciding and cancel the bot's working orders; its position stays on the account."""
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    return _stop(bot, actor=actor)


def _stop(bot: Bot, *, actor: Any) -> Bot:
    old = bot.status
    bot.status = _transition(bot, "stop")
    bot.save(update_fields=["status", "updated_at"])
    canceled = _cancel_working_orders(bot, actor)
    position = RunnerState.from_state(bot.state, symbol=bot.symbol.symbol, perpetual=bot.symbol.is_perpetual).position.quantity
    message = "stopped by you" + (f"; {canceled} working order{'s' if canceled != 1 else ''} canceled" if canceled else "")
    if position != 0:
        message += f"; its position of {position.normalize():f} {bot.symbol.base} stays open (close it on the Positions page)"
    _record(bot, actor=actor, action="stopped", old=old, summary=f"Bot {bot.name!r} stopped", message=message)
    return bot


@transaction.atomic
def bot_update_params(*, actor: Any, bot_id: Any, params: dict[str, Any]) -> Bot:
    """New parameters, only while stopped; the strategy's saved state starts afresh with them."""
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    if bot.status != BotStatus.STOPPED:
        raise ConflictError(
            f"Stop the bot before changing its parameters (it is {BotStatus(bot.status).label.lower()}).",
            code=BotErrorCode.NOT_STOPPED,
            extra={"status": bot.status},
        )
    validated = validate_params(bot.strategy, params).to_dict()
    changes = diff_fields(bot.params, validated)
    if changes:
        bot.params = validated
        bot.state = {**(bot.state or {}), "strategy": {}}
        bot.save(update_fields=["params", "state", "updated_at"])
        audit_record(actor=actor, owner=bot.owner, action="bot.params_updated", summary=f"Bot {bot.name!r}: parameters changed", target=bot, changes=changes)
        push_bot_on_commit(bot)
    return bot


@transaction.atomic
def bot_delete(*, actor: Any, bot_id: Any) -> None:
    """Soft delete; a bot that is not stopped is stopped first (its working orders canceled)."""
    bot = bot_get(actor=actor, bot_id=bot_id, for_update=True)
    if bot.status != BotStatus.STOPPED:
        _stop(bot, actor=actor)
    bot.soft_delete()
    audit_record(actor=actor, owner=bot.owner, action="bot.deleted", summary=f"Bot {bot.name!r} deleted", target=bot)


def bot_action(*, actor: Any, bot_id: Any, action: str) -> Bot:
    """One of the lifecycle actions by name (start, pause, resume, stop)."""
    services = {"start": bot_start, "pause": bot_pause, "resume": bot_resume, "stop": bot_stop}
    if action not in services:
        raise NotFoundError(f"Unknown action {action!r}; use start, pause, resume or stop.")
    return services[action](actor=actor, bot_id=bot_id)
