from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("register/", views.register_view, name="register"),
    path("login/", views.login_view, name="login"),
    path("login/two-factor/", views.login_two_factor_view, name="login_two_factor"),
    path("logout/", views.logout_view, name="logout"),
    path("settings/", views.settings_view, name="settings"),
    path("settings/api-keys/", views.api_key_create_view, name="api_key_create"),
    path("settings/api-keys/<uuid:api_key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("settings/sign-out-everywhere/", views.sign_out_everywhere_view, name="sign_out_everywhere"),
    path("settings/two-factor/setup/", views.two_factor_setup_view, name="two_factor_setup"),
    path("settings/two-factor/setup/qr.svg", views.two_factor_qr_view, name="two_factor_qr"),
    path("settings/two-factor/disable/", views.two_factor_disable_view, name="two_factor_disable"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
