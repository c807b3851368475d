from django.urls import path

from apps.orders.api import views

urlpatterns = [
    path("orders/", views.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>/", views.OrderDetailApi.as_view(), name="api-order-detail"),
    path("orders/<uuid:order_id>/cancel/", views.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("fills/", views.FillListApi.as_view(), name="api-fills"),
    path("positions/<uuid:position_id>/close/", views.PositionCloseApi.as_view(), name="api-position-close"),
]
