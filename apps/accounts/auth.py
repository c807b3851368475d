from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from apps.accounts.models import User


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user of a view that requires one (login_required / IsAuthenticated)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionError("this view needs a signed-in user")
    return user
