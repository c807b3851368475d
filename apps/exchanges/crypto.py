"""Encryption of exchange credentials at rest (Fernet; several keys for rotation).

FIELD_ENCRYPTION_KEYS lists Fernet keys, newest first: the first encrypts, all decrypt.
To rotate: put a new key first, run `manage.py rotate_encryption_keys`, then drop the old one.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from apps.core.crypto import field_cipher
from apps.core.errors import ApplicationError
from apps.exchanges.gateways.base import Credentials


class CredentialsUnreadableError(ApplicationError):
    status_code = 500
    default_code = "credentials_unreadable"


def cipher() -> MultiFernet:
    return field_cipher()


def encrypt_credentials(credentials: Credentials) -> str:
    payload = json.dumps({"api_key": credentials.api_key, "secret": credentials.secret, "passphrase": credentials.passphrase})
    return cipher().encrypt(payload.encode()).decode()


def decrypt_credentials(token: str, testnet: bool) -> Credentials:
    try:
        payload = json.loads(cipher().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadableError("Stored credentials cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS; enter them again.") from None
    return Credentials(api_key=payload["api_key"], secret=payload["secret"], passphrase=payload.get("passphrase", ""), testnet=testnet)


def rotate_token(token: str) -> str:
    """Re-encrypt with the newest key (any configured key may have encrypted it)."""
    return cipher().rotate(token.encode()).decode()


def is_encrypted_with_primary(token: str) -> bool:
    primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True
