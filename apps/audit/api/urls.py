from django.urls import path

from apps.audit.api import views

urlpatterns = [
    path("audit-events/", views.AuditEventListApi.as_view(), name="api-audit-events"),
    path("audit-events/export/", views.AuditEventExportApi.as_view(), name="api-audit-events-export"),
]
