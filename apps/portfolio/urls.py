from django.urls import path

from apps.portfolio import views

app_name = "portfolio"

urlpatterns = [
    path("mode/", views.mode_switch_view, name="mode"),
    path("accounts/paper/", views.paper_account_create_view, name="paper_account_create"),
    path("accounts/live/", views.live_account_create_view, name="live_account_create"),
]
