from __future__ import annotations

import re

from apps.accounts.models import User
from apps.accounts.tokens import token_pair_for

# A plaintext API key as shown once to its owner: tpk_<12 hex prefix>.<secret>
API_KEY_PATTERN = re.compile(r"tpk_[0-9a-f]{12}\.[A-Za-z0-9_-]+")


def bearer(user: User) -> dict[str, str]:
    """Headers carrying a freshly issued JWT access token for `user`."""
    return {"Authorization": f"Bearer {token_pair_for(user)['access']}"}


def api_key_header(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {plaintext}"}
