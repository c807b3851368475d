"""WSGI entry point: plain HTTP (pages and the API) for a WSGI server such as gunicorn.

WebSockets need the ASGI app (trading_platform.asgi); a deployment that puts the API
behind gunicorn still runs uvicorn for /ws/.
"""

from django.core.wsgi import get_wsgi_application

from trading_platform.bootstrap import exit_on_configuration_error, freeze_startup_objects, set_default_settings

set_default_settings()
application = exit_on_configuration_error(get_wsgi_application)

freeze_startup_objects()
