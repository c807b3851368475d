from django.urls import path

from apps.strategies.api import views

urlpatterns = [
    path("strategies/", views.StrategyListApi.as_view(), name="api-strategies"),
    path("strategies/<str:name>/", views.StrategyDetailApi.as_view(), name="api-strategy-detail"),
]
