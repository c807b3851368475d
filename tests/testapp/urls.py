"""The platform's URLs plus the test-only views of `tests.testapp.views`."""

from django.urls import path

from tests.testapp.views import UnfilteredRowsApi, unfiltered_rows_view
from trading_platform.urls import handler400, handler403, handler404, handler500
from trading_platform.urls import urlpatterns as platform_urlpatterns

urlpatterns = [
    path("testapp/unfiltered-rows/", unfiltered_rows_view),
    path("api/v1/testapp/unfiltered-rows/", UnfilteredRowsApi.as_view()),
    *platform_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
