"""Views that read user rows WITHOUT filtering by user, as a buggy view would.

They exist only in the test settings' URLs: row-level security must keep what they return
to the acting user's rows.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiKey
from apps.audit.models import AuditEvent
from apps.orders.models import Fill, Order
from apps.portfolio.models import TradingAccount


def _every_row() -> dict[str, list[str]]:
    return {
        "accounts": sorted(str(pk) for pk in TradingAccount.objects.values_list("pk", flat=True)),
        "orders": sorted(str(pk) for pk in Order.objects.values_list("pk", flat=True)),
        "fills": sorted(str(pk) for pk in Fill.objects.values_list("id", flat=True)),
        "api_keys": sorted(str(pk) for pk in ApiKey.objects.values_list("pk", flat=True)),
        "audit_owners": sorted({str(pk) for pk in AuditEvent.objects.values_list("owner_id", flat=True)}),
    }


def unfiltered_rows_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_every_row())


class UnfilteredRowsApi(APIView):
    permission_classes: list[type] = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(_every_row())
