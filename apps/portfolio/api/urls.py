from django.urls import path

from apps.portfolio.api import views

urlpatterns = [
    path("accounts/", views.TradingAccountListCreateApi.as_view(), name="api-trading-accounts"),
    path("balances/", views.BalanceListApi.as_view(), name="api-balances"),
    path("positions/", views.PositionListApi.as_view(), name="api-positions"),
]
