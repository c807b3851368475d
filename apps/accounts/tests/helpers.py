from __future__ import annotations

import re
import time

import pyotp

from apps.accounts.models import User
from apps.accounts.services import totp_enrolment_confirm, totp_enrolment_start
from apps.accounts.tokens import token_pair_for

# A plaintext API key as shown once to its owner: tpk_<12 hex prefix>.<secret>
API_KEY_PATTERN = re.compile(r"tpk_[0-9a-f]{12}\.[A-Za-z0-9_-]+")


def bearer(user: User) -> dict[str, str]:
    """Headers carrying a freshly issued JWT access token for `user`."""
    return {"Authorization": f"Bearer {token_pair_for(user)['access']}"}


def api_key_header(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {plaintext}"}


def enable_two_factor(user: User) -> tuple[str, list[str]]:
    """Turn two-factor on for `user`: (the TOTP secret, the ten recovery codes).

    Confirmed with the previous step's code, so the current and the next code are still unused.
    """
    enrolment = totp_enrolment_start(actor=user)
    codes = totp_enrolment_confirm(actor=user, code=pyotp.TOTP(enrolment.secret).at(time.time() - 30))
    return enrolment.secret, codes


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)
