from django.urls import path

from apps.orders.positions import views

app_name = "positions"

urlpatterns = [
    path("", views.positions_view, name="list"),
    path("<uuid:position_id>/close/", views.position_close_view, name="close"),
    path("<uuid:position_id>/exits/", views.position_exits_view, name="exits"),
]
