from django.urls import path

from apps.help import views

app_name = "help"

urlpatterns = [
    path("", views.help_index_view, name="index"),
    path("<slug:slug>/", views.help_guide_view, name="guide"),
]
