from django.urls import path

from apps.core import views

app_name = "core"

urlpatterns = [
    path("section/<slug:section>/", views.planned_section_view, name="planned"),
]
