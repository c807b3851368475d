"""Backtest pages: the form and your backtests, one backtest's results, CSV exports, a comparison.

A run's progress reaches the page twice: the services push the status partial over the
user's WebSocket, and the partial polls itself every 2 s while the run is queued or running.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.auth import request_user
from apps.accounts.models import User
from apps.backtesting.forms import BacktestForm, StrategyParamsForm, apply_backtest_error, backtest_symbols
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.selectors import backtest_get, backtest_list
from apps.backtesting.services import backtest_create, equity_csv, trades_csv
from apps.core.errors import ApplicationError, ConflictError, NotFoundError
from apps.strategies.domain.registry import list_strategies

PAGE_SIZE = 50
TRADES_SHOWN = 500
COMPARE_MIN, COMPARE_MAX = 2, 5
HUGE = 1e6
SHORT_SAMPLE_DAYS = 30  # annualised figures from less history than this are flagged as extrapolations
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# (label, metrics key, kind): kinds are formatted by `_format`.
METRICS: list[tuple[str, str, str]] = [
    ("Total return", "total_return", "pct"),
    ("Annualised return", "annualised_return", "pct"),
    ("Sharpe", "sharpe", "ratio"),
    ("Sortino", "sortino", "ratio"),
    ("Volatility", "volatility", "pct"),
    ("Sharpe (per bar)", "sharpe_per_bar", "ratio"),
    ("Sortino (per bar)", "sortino_per_bar", "ratio"),
    ("Calmar", "calmar", "ratio"),
    ("Max drawdown", "max_drawdown", "drawdown"),
    ("Max drawdown duration", "max_drawdown_duration_days", "days"),
    ("Trades", "trades", "int"),
    ("Win rate", "win_rate", "pct"),
    ("Profit factor", "profit_factor", "ratio"),
    ("Average win", "average_win", "money"),
    ("Average loss", "average_loss", "money"),
    ("Exposure", "exposure", "pct"),
    ("Buy and hold", "buy_and_hold_return", "pct"),
    ("Final equity", "final_equity", "money"),
    ("Refused orders", "refused_orders", "int"),
    ("Re-sized orders", "resized_orders", "int"),
    ("Liquidations", "liquidations", "int"),
    ("Liquidation losses", "liquidation_losses", "money"),
]


# -- presentation ------------------------------------------------------------------------------


def _format(value: Any, kind: str, metrics: dict[str, Any] | None = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind in ("pct", "drawdown"):
        percent = value * 100
        # An annualised figure from a few hours of data can be 1e30 %: digits would fill the page.
        return f"{percent:.3g} %" if abs(percent) >= HUGE else f"{percent:,.2f} %"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "days":
        bars = (metrics or {}).get("max_drawdown_duration_bars")
        return f"{value:,.2f} days" + (f" ({bars:,} bars)" if bars is not None else "")
    return f"{value:.3g}" if abs(value) >= HUGE else f"{value:,.2f}"


def _tone(value: Any, kind: str) -> str:
    if not isinstance(value, int | float) or kind not in ("pct", "money", "ratio"):
        return "down" if kind == "drawdown" and value else ""
    return "up" if value > 0 else "down" if value < 0 else ""


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"label": label, "key": key, "value": _format(metrics.get(key), kind, metrics), "tone": _tone(metrics.get(key), kind)} for label, key, kind in METRICS
    ]


def monthly_table(monthly: dict[str, float]) -> list[dict[str, Any]]:
    """Years as rows of twelve cells coloured by the month's return, with the year's compounded return."""
    if not monthly:
        return []
    scale = max(abs(value) for value in monthly.values() if value is not None) or 1.0
    years: dict[str, dict[int, float]] = {}
    for month, value in monthly.items():
        year, month_number = month.split("-")[:2]
        if value is not None:
            years.setdefault(year, {})[int(month_number)] = value
    rows = []
    for year in sorted(years):
        cells = []
        compounded = 1.0
        for number in range(1, 13):
            found = years[year].get(number)
            if found is None:
                cells.append({"month": MONTHS[number - 1], "text": "", "css_class": ""})
                continue
            compounded *= 1 + found
            # Six shades per direction, as classes: the page's CSP allows no inline style.
            strength = 1 + round(5 * min(1.0, abs(found) / scale))
            direction = "up" if found >= 0 else "down"
            cells.append({"month": MONTHS[number - 1], "text": f"{found * 100:.2f} %", "css_class": f"heat-{direction}-{strength}"})
        total = compounded - 1
        rows.append({"year": year, "cells": cells, "total": f"{total * 100:.2f} %", "tone": "up" if total > 0 else "down" if total < 0 else ""})
    return rows


def _sample_days(metrics: dict[str, Any]) -> float | None:
    """How many days of bars the metrics were computed from (bars x bar length)."""
    bars, per_year = metrics.get("bars"), metrics.get("periods_per_year")
    if not bars or not per_year:
        return None
    return float(bars) * 365 / float(per_year)


def _label(backtest: Backtest) -> str:
    return backtest.name or f"{backtest.strategy} · {backtest.symbol.symbol if backtest.symbol else backtest.data_source} {backtest.timeframe}"


def _normalised(backtest: Backtest) -> list[list[float]]:
    initial = float(backtest.initial_capital) or 1.0
    return [[point[0], round(point[1] / initial * 100, 4)] for point in backtest.equity_curve]


# -- queries -------------------------------------------------------------------------------------


def _strategies() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    strategies = list_strategies()
    return strategies, {s["name"]: s for s in strategies}


# -- the Backtests page --------------------------------------------------------------------------


SUMMARY = [("total_return", "pct"), ("sharpe", "ratio"), ("max_drawdown", "drawdown"), ("trades", "int")]


def _list_context(request: HttpRequest) -> dict[str, Any]:
    page = Paginator(backtest_list(actor=request_user(request)), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for backtest in page:
        done = backtest.status == RunStatus.DONE
        summary = {key: _format(backtest.metrics.get(key), kind) if done else "–" for key, kind in SUMMARY}
        tone = _tone(backtest.metrics.get("total_return"), "pct") if done else ""
        rows.append({"backtest": backtest, "label": _label(backtest), "summary": summary, "tone": tone})
    return {"backtests_page": page, "rows": rows, "compare_min": COMPARE_MIN, "compare_max": COMPARE_MAX}


def _page_context(request: HttpRequest, form: BacktestForm, params_form: StrategyParamsForm) -> dict[str, Any]:
    return {"active_section": "backtests", "form": form, "params_form": params_form, **_list_context(request)}


@login_required
@require_http_methods(["GET", "POST"])
def backtests_view(request: HttpRequest) -> HttpResponse:
    strategies, by_name = _strategies()
    symbols = backtest_symbols()
    if request.method == "GET":
        if request.htmx and request.GET.get("list"):  # type: ignore[attr-defined]
            return render(request, "backtesting/backtests.html#backtest-list", _list_context(request))
        initial = BacktestForm.initial_for(strategies=strategies, symbols=symbols, strategy=request.GET.get("strategy", ""))
        form = BacktestForm(initial=initial, strategies=strategies, symbols=symbols)
        params_form = StrategyParamsForm(strategy=by_name.get(initial["strategy"]))
        return render(request, "backtesting/backtests.html", _page_context(request, form, params_form))

    form = BacktestForm(request.POST, strategies=strategies, symbols=symbols)
    chosen = by_name.get(request.POST.get("strategy", ""))
    params_form = StrategyParamsForm(request.POST, strategy=chosen)
    if all([form.is_valid(), params_form.is_valid()]):  # both validated, so both show their errors
        data = form.cleaned_data
        try:
            backtest = backtest_create(
                actor=request_user(request),
                strategy=data["strategy"],
                params=params_form.params(),
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                start=data["start"],
                end=data["end"],
                initial_capital=data["initial_capital"],
                maker_fee=data["fee"],
                taker_fee=data["fee"],
                slippage_bps=data["slippage_bps"],
                fill_mode=data["fill_mode"],
                name=data["name"],
            )
        except ApplicationError as exc:
            apply_backtest_error(form, params_form, exc)
        else:
            url = reverse("backtesting:detail", args=[backtest.pk])
            if request.htmx:  # type: ignore[attr-defined]
                return HttpResponseClientRedirect(url)
            return redirect(url)
    context = _page_context(request, form, params_form)
    template = "backtesting/backtests.html#backtest-form" if request.htmx else "backtesting/backtests.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=400)


@login_required
@require_GET
def backtest_params_view(request: HttpRequest) -> HttpResponse:
    """The parameter fields of the chosen strategy, swapped into the form when the strategy changes."""
    _, by_name = _strategies()
    chosen = by_name.get(request.GET.get("strategy", ""))
    return render(request, "backtesting/partials.html#strategy-params", {"params_form": StrategyParamsForm(strategy=chosen)})


# -- one backtest --------------------------------------------------------------------------------


def _detail_context(backtest: Backtest) -> dict[str, Any]:
    metrics = backtest.metrics or {}
    done = backtest.status == RunStatus.DONE
    return {
        "active_section": "backtests",
        "backtest": backtest,
        "label": _label(backtest),
        "metric_rows": metric_rows(metrics) if done else [],
        "sample_days": _sample_days(metrics),
        "short_sample_days": SHORT_SAMPLE_DAYS,
        "monthly": monthly_table(metrics.get("monthly_returns") or {}) if done else [],
        "months": MONTHS,
        "trades": backtest.trades[:TRADES_SHOWN],
        "trades_total": len(backtest.trades),
        "trades_shown": TRADES_SHOWN,
        "refusals": (metrics.get("order_refusals") or [])[:TRADES_SHOWN],
        "refusals_total": (metrics.get("refused_orders") or 0) + (metrics.get("resized_orders") or 0),
        "liquidation_list": metrics.get("liquidation_list") or [],
        "chart": {"initial": float(backtest.initial_capital), "equity": backtest.equity_curve} if done else None,
    }


@login_required
@require_GET
def backtest_detail_view(request: HttpRequest, backtest_id: str) -> HttpResponse:
    backtest = backtest_get(actor=request_user(request), backtest_id=backtest_id)
    template = "backtesting/detail.html#backtest-body" if request.htmx else "backtesting/detail.html"  # type: ignore[attr-defined]
    return render(request, template, _detail_context(backtest))


@login_required
@require_GET
def backtest_status_view(request: HttpRequest, backtest_id: str) -> HttpResponse:
    """The status partial, for the page's 2-second poll while a run is queued or running."""
    backtest = backtest_get(actor=request_user(request), backtest_id=backtest_id)
    return render(request, "backtesting/partials.html#backtest-status", {"backtest": backtest, "oob": False})


def csv_response(backtest: Backtest, kind: str, body: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="backtest-{backtest.pk}-{kind}.csv"'
    return response


def finished_backtest(*, actor: User, backtest_id: Any) -> Backtest:
    """The actor's backtest, when it has results to export (a 409 naming its status otherwise)."""
    backtest = backtest_get(actor=actor, backtest_id=backtest_id)
    if backtest.status != RunStatus.DONE:
        raise ConflictError(f"The backtest is {backtest.get_status_display().lower()}: its trades and equity can be exported once it is done.")
    return backtest


@login_required
@require_GET
def backtest_trades_csv_view(request: HttpRequest, backtest_id: str) -> HttpResponse:
    backtest = finished_backtest(actor=request_user(request), backtest_id=backtest_id)
    return csv_response(backtest, "trades", trades_csv(backtest))


@login_required
@require_GET
def backtest_equity_csv_view(request: HttpRequest, backtest_id: str) -> HttpResponse:
    backtest = finished_backtest(actor=request_user(request), backtest_id=backtest_id)
    return csv_response(backtest, "equity", equity_csv(backtest))


# -- comparison ----------------------------------------------------------------------------------


@login_required
@require_GET
def backtest_compare_view(request: HttpRequest) -> HttpResponse:
    ids = list(dict.fromkeys(value.strip() for value in request.GET.getlist("ids") if value.strip()))
    if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
        messages.error(request, f"Pick {COMPARE_MIN} to {COMPARE_MAX} backtests to compare (you picked {len(ids)}).")
        return redirect("backtesting:list")
    actor = request_user(request)
    try:
        backtests = [backtest_get(actor=actor, backtest_id=backtest_id) for backtest_id in ids]
    except NotFoundError:
        raise NotFoundError("One of these backtests does not exist, or is not yours.") from None
    labels = [_label(b) for b in backtests]
    metrics = [metric_rows(b.metrics if b.status == RunStatus.DONE else {}) for b in backtests]
    rows = [{"label": label, "cells": [column[index] for column in metrics]} for index, (label, _, _) in enumerate(METRICS)]
    series = [{"label": label, "points": _normalised(b)} for b, label in zip(backtests, labels, strict=True) if b.status == RunStatus.DONE]
    columns = [{"backtest": b, "label": label} for b, label in zip(backtests, labels, strict=True)]
    context = {"active_section": "backtests", "columns": columns, "rows": rows, "series": series}
    return render(request, "backtesting/compare.html", context)
