from django.urls import path

from apps.orders import views

app_name = "orders"

urlpatterns = [
    path("", views.orders_view, name="list"),
    path("preview/", views.order_preview_view, name="preview"),
    path("<uuid:order_id>/cancel/", views.order_cancel_view, name="cancel"),
]
