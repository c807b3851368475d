from django.urls import path

from apps.strategies import views

app_name = "strategies"

urlpatterns = [
    path("", views.strategies_view, name="list"),
]
