from django.urls import path

from apps.bots.api import views

urlpatterns = [
    path("bots/", views.BotListCreateApi.as_view(), name="api-bots"),
    path("bots/<uuid:bot_id>/", views.BotDetailApi.as_view(), name="api-bot-detail"),
    path("bots/<uuid:bot_id>/log/", views.BotLogApi.as_view(), name="api-bot-log"),
    *[path(f"bots/<uuid:bot_id>/{name}/", views.action_view(name).as_view(), name=f"api-bot-{name}") for name in ("start", "pause", "resume", "stop")],
]
