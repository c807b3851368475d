from __future__ import annotations

import re

from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import User

# A plaintext API key as shown once to its owner: tpk_<12 hex prefix>.<secret>
API_KEY_PATTERN = re.compile(r"tpk_[0-9a-f]{12}\.[A-Za-z0-9_-]+")


def bearer(user: User) -> dict[str, str]:
    """Headers carrying a freshly issued JWT access token for `user`."""
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def api_key_header(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {plaintext}"}
