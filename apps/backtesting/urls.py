from django.urls import path

from apps.backtesting import views
from apps.backtesting.optimisation import views as optimisation_views

app_name = "backtesting"

urlpatterns = [
    path("", views.backtests_view, name="list"),
    path("params/", views.backtest_params_view, name="params"),
    path("compare/", views.backtest_compare_view, name="compare"),
    path("optimisations/", optimisation_views.optimisations_view, name="optimisations"),
    path("optimisations/<uuid:optimisation_id>/", optimisation_views.optimisation_detail_view, name="optimisation"),
    path("<uuid:backtest_id>/", views.backtest_detail_view, name="detail"),
    path("<uuid:backtest_id>/status/", views.backtest_status_view, name="status"),
    path("<uuid:backtest_id>/trades.csv", views.backtest_trades_csv_view, name="trades_csv"),
    path("<uuid:backtest_id>/equity.csv", views.backtest_equity_csv_view, name="equity_csv"),
]
