from django.urls import path

from apps.market import views

app_name = "market"

urlpatterns = [
    path("", views.market_index_view, name="index"),
    path("<str:exchange_code>/", views.market_exchange_view, name="exchange"),
    path("<str:exchange_code>/<slug:slug>/", views.market_symbol_view, name="symbol"),
]
