"""Optimisation pages: the form with parameter ranges, your optimisations, and a results table
(in-sample next to out-of-sample) from which a row becomes a bot or a backtest."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from apps.accounts.auth import request_user
from apps.accounts.forms import apply_application_error
from apps.backtesting.forms import backtest_symbols
from apps.backtesting.optimisation.forms import OptimisationForm, parse_space, range_rows
from apps.backtesting.optimisation.services import OBJECTIVES, optimisation_create
from apps.backtesting.selectors import optimisation_get, optimisation_list
from apps.core.errors import ApplicationError
from apps.strategies.domain.registry import list_strategies

SORTABLE = {"score", "is_total_return", "is_sharpe", "is_max_drawdown", "oos_total_return", "oos_sharpe", "oos_max_drawdown", "is_trades", "oos_trades"}


def _context(request: HttpRequest, form: OptimisationForm, strategy: dict[str, Any] | None, range_errors: dict[str, str] | None = None) -> dict[str, Any]:
    schema = strategy["schema"] if strategy else {}
    return {
        "active_section": "backtests",
        "form": form,
        "strategy": strategy,
        "ranges": range_rows(schema, request.POST if request.method == "POST" else None),
        "range_errors": range_errors or {},
        "optimisations": optimisation_list(actor=request_user(request))[:50],
    }


@login_required
@require_http_methods(["GET", "POST"])
def optimisations_view(request: HttpRequest) -> HttpResponse:
    strategies = list_strategies()
    by_name = {s["name"]: s for s in strategies}
    symbols = backtest_symbols()
    if request.method == "GET":
        initial = OptimisationForm.initial_for(strategies=strategies, symbols=symbols, strategy=request.GET.get("strategy", ""))
        form = OptimisationForm(initial=initial, strategies=strategies, symbols=symbols)
        form.fields["strategy"].widget.attrs.update(
            {"hx-get": reverse("backtesting:optimisations"), "hx-target": "body", "hx-push-url": "true", "hx-include": "this"}
        )
        return render(request, "backtesting/optimisations.html", _context(request, form, by_name.get(initial["strategy"])))
    form = OptimisationForm(request.POST, strategies=strategies, symbols=symbols)
    strategy = by_name.get(request.POST.get("strategy", ""))
    space, range_errors = parse_space(strategy["schema"] if strategy else {}, request.POST)
    if form.is_valid() and not range_errors:
        data = form.cleaned_data
        try:
            optimisation = optimisation_create(
                actor=request_user(request),
                strategy=data["strategy"],
                param_space=space,
                objective=data["objective"],
                method=data["method"],
                max_runs=data["max_runs"],
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                start=data["start"],
                end=data["end"],
                in_sample_fraction=data["in_sample_fraction"],
                walk_forward_windows=data["walk_forward_windows"],
                initial_capital=data["initial_capital"],
                fee=data["fee"],
                slippage_bps=data["slippage_bps"],
            )
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            messages.success(request, f"Optimisation started: {optimisation.total_runs} runs across the workers.")
            return redirect("backtesting:optimisation", optimisation_id=optimisation.pk)
    return render(request, "backtesting/optimisations.html", _context(request, form, strategy, range_errors), status=400)


def _bot_form_url() -> str:
    try:
        return reverse("bots:create")
    except NoReverseMatch:
        return ""


def _row(result: Any, objective_key: str) -> dict[str, Any]:
    in_sample, out_of_sample = result.in_sample or {}, result.out_of_sample or {}
    return {
        "params": result.params,
        "params_text": ", ".join(f"{k}={v}" for k, v in result.params.items()),
        "score": result.score,
        "error": in_sample.get("error", ""),
        "is_total_return": in_sample.get("total_return"),
        "is_sharpe": in_sample.get("sharpe"),
        "is_max_drawdown": in_sample.get("max_drawdown"),
        "is_trades": in_sample.get("trades"),
        "oos_total_return": out_of_sample.get("total_return"),
        "oos_sharpe": out_of_sample.get("sharpe"),
        "oos_max_drawdown": out_of_sample.get("max_drawdown"),
        "oos_trades": out_of_sample.get("trades"),
        "oos_objective": out_of_sample.get(objective_key),
    }


@login_required
def optimisation_detail_view(request: HttpRequest, optimisation_id: str) -> HttpResponse:
    optimisation = optimisation_get(actor=request_user(request), optimisation_id=optimisation_id)
    sort = request.GET.get("sort", "score")
    sort = sort if sort in SORTABLE else "score"
    descending = request.GET.get("dir", "desc") != "asc"
    rows = [_row(result, OBJECTIVES[optimisation.objective]) for result in optimisation.results.all()]
    rows.sort(key=lambda row: (row[sort] is None, -(row[sort] or 0) if descending else (row[sort] or 0)))
    bot_form = _bot_form_url()
    for row in rows:
        query = {"strategy": optimisation.strategy, "symbol": optimisation.symbol_id, "timeframe": optimisation.timeframe}
        row["bot_url"] = f"{bot_form}?{urlencode({**query, 'params': json.dumps({**optimisation.base_params, **row['params']})})}" if bot_form else ""
        row["params_json"] = json.dumps(row["params"])
    context = {"active_section": "backtests", "optimisation": optimisation, "rows": rows, "sort": sort, "descending": descending}
    template = "backtesting/optimisation_detail.html#results" if request.htmx else "backtesting/optimisation_detail.html"  # type: ignore[attr-defined]
    return render(request, template, context)
