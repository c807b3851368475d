from django.urls import path

from apps.bots import views

app_name = "bots"

urlpatterns = [
    path("", views.bots_view, name="list"),
    path("new/", views.bot_create_view, name="create"),
    path("params/", views.bot_params_view, name="params"),
    path("from-optimisation/<uuid:optimisation_id>/", views.optimisation_bot_create_view, name="optimisation_bot"),
    path("<uuid:bot_id>/", views.bot_detail_view, name="detail"),
    path("<uuid:bot_id>/delete/", views.bot_delete_view, name="delete"),
    path("<uuid:bot_id>/<str:action>/", views.bot_action_view, name="action"),
]
