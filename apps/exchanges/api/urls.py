from django.urls import path

from apps.exchanges.api import views

urlpatterns = [
    path("exchanges/", views.ExchangeListApi.as_view(), name="api-exchanges"),
    path("symbols/", views.SymbolListApi.as_view(), name="api-symbols"),
    path("api-connections/", views.ApiConnectionListCreateApi.as_view(), name="api-connections"),
    path("api-connections/<uuid:connection_id>/", views.ApiConnectionDetailApi.as_view(), name="api-connection-detail"),
    path("api-connections/<uuid:connection_id>/verify/", views.ApiConnectionVerifyApi.as_view(), name="api-connection-verify"),
]
