from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core.views import health_view, metrics_view

api_v1 = [
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.exchanges.api.urls")),
    path("", include("apps.market.api.urls")),
    path("", include("apps.orders.api.urls")),
    path("", include("apps.portfolio.api.urls")),
    path("", include("apps.risk.api.urls")),
    path("", include("apps.bots.api.urls")),
    path("", include("apps.strategies.api.urls")),
    path("", include("apps.backtesting.api.urls")),
    path("", include("apps.audit.api.urls")),
]

urlpatterns = [
    path("", include("apps.home.urls")),
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("audit/", include("apps.audit.urls")),
    path("market/", include("apps.market.urls")),
    path("connections/", include("apps.exchanges.urls")),
    path("orders/", include("apps.orders.urls")),
    path("positions/", include("apps.orders.positions.urls")),
    path("positions/", include("apps.portfolio.urls")),
    path("risk/", include("apps.risk.urls")),
    path("bots/", include("apps.bots.urls")),
    path("strategies/", include("apps.strategies.urls")),
    path("backtests/", include("apps.backtesting.urls")),
    path("help/", include("apps.help.urls")),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),  # pages without an icon link: the admin
    path("health/", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "apps.core.views.bad_request_view"
handler403 = "apps.core.views.permission_denied_view"
handler404 = "apps.core.views.not_found_view"
handler500 = "apps.core.views.server_error_view"
