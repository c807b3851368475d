from django.urls import path

from apps.market.api import views

urlpatterns = [
    path("candles/", views.CandleListApi.as_view(), name="api-candles"),
    path("tickers/", views.TickerListApi.as_view(), name="api-tickers"),
    path("orderbook/", views.OrderBookApi.as_view(), name="api-orderbook"),
]
