"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

from django.core.asgi import get_asgi_application

from trading_platform.bootstrap import exit_on_configuration_error, freeze_startup_objects, set_default_settings

set_default_settings()
# Build Django's app (and so load settings and apps) before importing consumers.
django_asgi_app = exit_on_configuration_error(get_asgi_application)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from trading_platform.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
freeze_startup_objects()
