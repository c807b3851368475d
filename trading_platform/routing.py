from django.urls import path

from apps.core.consumers import UserEventsConsumer
from apps.market.consumers import MarketConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/market/<str:exchange_code>/", MarketConsumer.as_asgi()),
    path("ws/market/<str:exchange_code>/<slug:slug>/", MarketConsumer.as_asgi()),
]
