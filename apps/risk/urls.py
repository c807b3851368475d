from django.urls import path

from apps.risk import views

app_name = "risk"

urlpatterns = [
    path("", views.risk_view, name="limits"),
    path("accounts/<uuid:account_id>/state/", views.account_state_view, name="account_state"),
]
