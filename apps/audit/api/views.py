"""`GET /api/v1/audit-events/` (cursor-paginated) and `GET /api/v1/audit-events/export/?format=csv|jsonl`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.audit.api.serializers import AuditEventOutputSerializer
from apps.audit.export import FORMATS, export_filename, export_lines
from apps.audit.filters import ACTION_GROUPS, AuditFilter, audit_filter_from_params
from apps.audit.models import ActorKind, AuditEvent
from apps.audit.selectors import audit_event_list
from apps.core import rls
from apps.core.api.schema import ErrorOutputSerializer
from apps.core.api.scopes import ApiKeyScope
from apps.core.errors import ValidationError

FILTER_PARAMETERS = [
    OpenApiParameter("group", str, enum=list(ACTION_GROUPS), description="Only actions of this group."),
    OpenApiParameter("action", str, description="Only actions starting with this, e.g. order. or api_key.created."),
    OpenApiParameter("target_type", str, description="Only events about this kind of object, e.g. orders.order, bots.bot."),
    OpenApiParameter("target_id", str, description="Only events about the object with this id."),
    OpenApiParameter("actor", str, description="A user, API key or bot id, or part of an actor's name (email, key name, system process)."),
    OpenApiParameter("actor_kind", str, enum=ActorKind.values, description="Only events by users, API keys, bots or system processes."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="From this time (ISO 8601 or epoch milliseconds), inclusive."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before this time; must not be before since."),
    OpenApiParameter("q", str, description="Text in the summary (case-insensitive)."),
    OpenApiParameter("correlation", str, description="Only the events one request or task caused (its correlation id)."),
    OpenApiParameter("scope", str, enum=["mine", "all"], description="all: everyone's events (staff only)."),
    OpenApiParameter("owner", OpenApiTypes.UUID, description="Only this user's trail (staff; others may name only themselves)."),
]
ERRORS = {
    400: OpenApiResponse(
        ErrorOutputSerializer, description="A filter value is not valid (unknown group or actor_kind, a bad date, until before since); extra.fields names it."
    ),
    401: OpenApiResponse(ErrorOutputSerializer, description="Not signed in."),
    403: OpenApiResponse(
        ErrorOutputSerializer, description="Everyone's or another user's events asked for without being staff, or an API key without the read scope."
    ),
    429: OpenApiResponse(ErrorOutputSerializer, description="Too many requests; Retry-After says when to try again."),
}


LIST_ERRORS = {**ERRORS, 404: OpenApiResponse(ErrorOutputSerializer, description="The cursor is not one this endpoint gave out.")}


class AuditCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "-id")


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """`format` names the export's format here, not a renderer."""

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _filters(request: Request) -> AuditFilter:
    actor = request.user
    filters = audit_filter_from_params(request.query_params, actor=actor, strict_scope=True)
    if filters.everyone:
        rls.allow_staff_view(request._request)
    return filters


class AuditEventListApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ}
    serializer_class = AuditEventOutputSerializer
    pagination_class = AuditCursorPagination
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={200: AuditEventOutputSerializer(many=True), **LIST_ERRORS},
        description="Your audit trail, newest first (staff: anyone's).",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return audit_event_list(actor=self.request.user, filters=_filters(self.request)).select_related(None)


class AuditEventExportApi(APIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ}
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(FORMATS), required=True, description="csv or jsonl."), *FILTER_PARAMETERS],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per event, oldest first; the last line is '# ' and the manifest JSON."),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description='One JSON object per line, oldest first; the last line is {"manifest": {filter, count, first_hash, last_hash}}.'
            ),
            **ERRORS,
        },
        description="The filtered trail, streamed, with a manifest to check it against the hash chain.",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        export_format = request.query_params.get("format", "").strip().lower()
        if export_format not in FORMATS:
            raise ValidationError.for_field("format", f"format must be csv or jsonl, not {export_format!r}.")
        filters = _filters(request)
        response = StreamingHttpResponse(export_lines(actor=request.user, filters=filters, export_format=export_format), content_type=FORMATS[export_format])
        response["Content-Disposition"] = f'attachment; filename="{export_filename(export_format)}"'
        return response
