from django.urls import path

from apps.risk.api import views

urlpatterns = [
    path("risk-limits/", views.RiskLimitsApi.as_view(), name="api-risk-limits"),
]
