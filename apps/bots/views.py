from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.auth import request_user
from apps.accounts.forms import apply_application_error
from apps.backtesting.selectors import optimisation_get
from apps.bots.forms import BotForm, BotParamsForm, apply_param_errors, strategy_description
from apps.bots.models import Bot, BotStatus
from apps.bots.selectors import (
    STATUS_FILTERS,
    bot_equity_series,
    bot_get,
    bot_list,
    bot_log_list,
    bot_open_orders,
    bot_summary,
    bot_trades,
)
from apps.bots.services import BotLimits, bot_action, bot_create, bot_delete, bot_update_params
from apps.core.errors import ApplicationError
from apps.portfolio.mode import current_mode
from apps.portfolio.selectors import trading_account_list


def _cards_context(request: HttpRequest) -> dict[str, Any]:
    status = request.GET.get("status", "").strip().upper()
    status = status if status in BotStatus.values else ""
    search = request.GET.get("q", "").strip()[:80]
    bots = list(bot_list(actor=request_user(request), status=status, search=search)[:200])
    return {"cards": [(bot, bot_summary(bot)) for bot in bots], "status_filter": status, "search": search, "status_filters": STATUS_FILTERS}


@login_required
@require_GET
def bots_view(request: HttpRequest) -> HttpResponse:
    context = _cards_context(request)
    if request.htmx and request.GET.get("cards"):  # type: ignore[attr-defined]
        return render(request, "bots/bots.html#bot-cards", context)
    return render(request, "bots/bots.html", {"active_section": "bots", **context})


def _prefill(request: HttpRequest) -> dict[str, Any]:
    """Values carried in the address, e.g. from an optimisation's "Create bot" (strategy, symbol, timeframe, params)."""
    initial: dict[str, Any] = {"strategy": request.GET.get("strategy", "")}
    for name in ("symbol", "timeframe"):
        if request.GET.get(name):
            initial[name] = request.GET[name]
    try:
        params = json.loads(request.GET.get("params", "") or "{}")
    except ValueError:
        params = {}
    if isinstance(params, dict):
        initial["params"] = params
    return initial


def _form_context(request: HttpRequest, form: BotForm) -> dict[str, Any]:
    return {"active_section": "bots", "form": form, "strategy_description": strategy_description(form.strategy_name)}


@login_required
@require_http_methods(["GET", "POST"])
def bot_create_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    accounts = list(trading_account_list(actor=user))
    if request.method == "GET":
        form = BotForm(accounts=accounts, initial=_prefill(request))
        return render(request, "bots/bot_form.html", _form_context(request, form))
    form = BotForm(request.POST, accounts=accounts)
    if form.is_valid():
        data = form.cleaned_data
        try:
            bot = bot_create(
                actor=user,
                name=data["name"],
                account=data["account"],
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                strategy=data["strategy"],
                params=form.params(),
                limits=BotLimits(data.get("max_position_notional"), data.get("max_daily_loss"), data.get("max_drawdown_percent")),
            )
        except ApplicationError as exc:
            if not apply_param_errors(form, exc.extra.get("fields", {})):
                apply_application_error(form, exc)
        else:
            messages.success(request, f"Bot {bot.name} created. Start it when you are ready.")
            if request.htmx:  # type: ignore[attr-defined]
                return HttpResponseClientRedirect(f"/bots/{bot.pk}/")
            return redirect("bots:detail", bot_id=bot.pk)
    return render(request, "bots/bot_form.html", _form_context(request, form), status=400)


@login_required
@require_GET
def bot_params_view(request: HttpRequest) -> HttpResponse:
    """The parameter fields of the strategy chosen in the form (swapped in by htmx)."""
    accounts = list(trading_account_list(actor=request_user(request)))
    form = BotForm(accounts=accounts, initial={"strategy": request.GET.get("strategy", "")})
    return render(request, "bots/bot_form.html#strategy-params", _form_context(request, form))


def _detail_context(request: HttpRequest, bot: Bot, params_form: BotParamsForm | None = None) -> dict[str, Any]:
    trades = bot_trades(bot=bot)
    return {
        "active_section": "bots",
        "bot": bot,
        "summary": bot_summary(bot),
        "entries": bot_log_list(bot=bot, limit=100),
        "equity_points": bot_equity_series(bot=bot),
        "trades": list(reversed(trades))[:200],
        "open_orders": list(bot_open_orders(bot=bot)[:100]),
        "params_form": params_form or BotParamsForm(strategy=bot.strategy, values=bot.params),
        "strategy_description": strategy_description(bot.strategy),
    }


@login_required
@require_http_methods(["GET", "POST"])
def bot_detail_view(request: HttpRequest, bot_id: str) -> HttpResponse:
    user = request_user(request)
    try:
        bot = bot_get(actor=user, bot_id=bot_id)
    except ApplicationError:
        raise Http404("No such bot.") from None
    if request.method == "GET":
        if request.htmx and request.GET.get("activity"):  # type: ignore[attr-defined]
            return render(request, "bots/bot_detail.html#bot-activity", _detail_context(request, bot))
        return render(request, "bots/bot_detail.html", _detail_context(request, bot))
    form = BotParamsForm(request.POST, strategy=bot.strategy, values=bot.params)
    if form.is_valid():
        try:
            bot_update_params(actor=user, bot_id=bot.pk, params=form.params())
        except ApplicationError as exc:
            if not apply_param_errors(form, exc.extra.get("fields", {})):
                apply_application_error(form, exc)
        else:
            messages.success(request, "Parameters saved.")
            return redirect("bots:detail", bot_id=bot.pk)
    bot.refresh_from_db()
    return render(request, "bots/bot_detail.html", _detail_context(request, bot, params_form=form), status=400)


@login_required
@require_POST
def bot_action_view(request: HttpRequest, bot_id: str, action: str) -> HttpResponse:
    """A lifecycle button: htmx swaps the card (Bots page) or the status block (bot page); a plain post redirects."""
    user = request_user(request)
    partial = "bots/partials.html#bot-card" if request.POST.get("next") == "list" else "bots/partials.html#bot-status"
    try:
        bot = bot_action(actor=user, bot_id=bot_id, action=action)
    except ApplicationError as exc:
        if not request.htmx:  # type: ignore[attr-defined]
            messages.error(request, exc.message)
            return redirect(_back(request, bot_id))
        try:
            current = bot_get(actor=user, bot_id=bot_id)
        except ApplicationError:
            return HttpResponse(exc.message, status=exc.status_code)
        response = render(request, partial, {"bot": current, "summary": bot_summary(current), "action_error": exc.message, "next": request.POST.get("next")})
        response.status_code = 200  # swapped in, with the reason shown (the conflict itself is a 409 in the API)
        return response
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, partial, {"bot": bot, "summary": bot_summary(bot), "next": request.POST.get("next")})
    messages.success(request, f"Bot {bot.name}: {BotStatus(bot.status).label.lower()}.")
    return redirect(_back(request, bot_id))


def _back(request: HttpRequest, bot_id: str) -> str:
    """Where a lifecycle button returns to: the list when it was pressed there, else the bot's page."""
    return "/bots/" if request.POST.get("next") == "list" else f"/bots/{bot_id}/"


@login_required
@require_POST
def bot_delete_view(request: HttpRequest, bot_id: str) -> HttpResponse:
    try:
        bot_delete(actor=request_user(request), bot_id=bot_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("bots:list")
    messages.success(request, "Bot deleted.")
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRedirect("/bots/")
    return redirect("bots:list")


@login_required
@require_POST
def optimisation_bot_create_view(request: HttpRequest, optimisation_id: str) -> HttpResponse:
    """One click: a stopped bot with this row's parameters, in your account on the optimisation's exchange
    (the paper one while the header says Paper, the live one in Live mode)."""
    user = request_user(request)
    optimisation = optimisation_get(actor=user, optimisation_id=optimisation_id)
    try:
        params = json.loads(request.POST.get("params", "{}"))
    except ValueError:
        params = None
    if not isinstance(params, dict):
        messages.error(request, "That row's parameters could not be read.")
        return redirect("backtesting:optimisation", optimisation_id=optimisation.pk)
    mode = current_mode(request)
    account = trading_account_list(actor=user, mode=mode).filter(exchange=optimisation.symbol.exchange).first()
    if account is None:
        messages.error(request, f"You have no {mode} account on {optimisation.symbol.exchange.name}; create one on the Orders page first.")
        return redirect("backtesting:optimisation", optimisation_id=optimisation.pk)
    label = ", ".join(f"{key}={value}" for key, value in params.items())
    try:
        bot = bot_create(
            actor=user,
            name=f"{optimisation.strategy} {label}"[:80],
            account=account,
            symbol=optimisation.symbol,
            timeframe=optimisation.timeframe,
            strategy=optimisation.strategy,
            params={**optimisation.base_params, **params},
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("backtesting:optimisation", optimisation_id=optimisation.pk)
    messages.success(request, f"Bot {bot.name!r} created in {account.name}; start it when you are ready.")
    return redirect("bots:detail", bot_id=bot.pk)
