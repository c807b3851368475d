from django.urls import path

from apps.backtesting.api import views
from apps.backtesting.optimisation import api as optimisation_api

urlpatterns = [
    path("backtests/", views.BacktestListCreateApi.as_view(), name="api-backtests"),
    path("backtests/<uuid:backtest_id>/", views.BacktestDetailApi.as_view(), name="api-backtest-detail"),
    path("backtests/<uuid:backtest_id>/trades.csv", views.BacktestTradesCsvApi.as_view(), name="api-backtest-trades-csv"),
    path("backtests/<uuid:backtest_id>/equity.csv", views.BacktestEquityCsvApi.as_view(), name="api-backtest-equity-csv"),
    path("optimisations/", optimisation_api.OptimisationListCreateApi.as_view(), name="api-optimisations"),
    path("optimisations/<uuid:optimisation_id>/", optimisation_api.OptimisationDetailApi.as_view(), name="api-optimisation-detail"),
]
