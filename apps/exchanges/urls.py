from django.urls import path

from apps.exchanges import views

app_name = "exchanges"

urlpatterns = [
    path("", views.connections_view, name="connections"),
    path("<uuid:connection_id>/verify/", views.connection_verify_view, name="verify"),
    path("<uuid:connection_id>/delete/", views.connection_delete_view, name="delete"),
]
