from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainApi.as_view(), name="api-token-obtain"),
    path("auth/token/refresh/", views.TokenRefreshApi.as_view(), name="api-token-refresh"),
    path("auth/logout/", views.LogoutApi.as_view(), name="api-logout"),
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("api-keys/", views.ApiKeyListCreateApi.as_view(), name="api-api-keys"),
    path("api-keys/<uuid:api_key_id>/", views.ApiKeyRevokeApi.as_view(), name="api-api-key-revoke"),
]
