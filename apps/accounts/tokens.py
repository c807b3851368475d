"""JWTs that carry the user's auth epoch: raising it makes every earlier token fail."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import User

EPOCH_CLAIM = "epoch"


def token_epoch(token: Any) -> int:
    """The epoch a token was issued at; tokens from before epochs existed count as epoch 0."""
    value = token.get(EPOCH_CLAIM, 0)
    return value if isinstance(value, int) else -1


def refresh_token_for(user: User) -> RefreshToken:
    token = RefreshToken.for_user(user)
    token[EPOCH_CLAIM] = user.auth_epoch
    return token


def token_pair_for(user: User) -> dict[str, str]:
    refresh = refresh_token_for(user)
    return {"refresh": str(refresh), "access": str(refresh.access_token)}
