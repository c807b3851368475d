import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from apps.accounts.tests.factories import UserFactory
from apps.exchanges.crypto import decrypt_credentials, is_encrypted_with_primary
from apps.exchanges.models import ApiConnection
from apps.exchanges.services import api_connection_create
from apps.exchanges.tests.factories import ExchangeFactory

pytestmark = pytest.mark.django_db
SECRET = "very-secret-api-secret-9f8e7d"
KEY = "binance-api-key-ABCD1234"


def _create() -> ApiConnection:
    return api_connection_create(actor=UserFactory(), exchange=ExchangeFactory(code="BINANCE"), label="main", api_key=KEY, secret=SECRET)


def test_the_secret_is_not_in_the_database_row_in_clear() -> None:
    connection_row = _create()

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(c)::text FROM exchanges_apiconnection c WHERE id = %s", [connection_row.pk])
        (raw_row,) = cursor.fetchone()
    assert SECRET not in raw_row
    assert KEY not in raw_row
    assert connection_row.api_key_hint == "…1234"
    assert decrypt_credentials(connection_row.credentials_encrypted, testnet=False).secret == SECRET


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_then_go() -> None:
    from django.conf import settings

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    connection_row = _create()
    new_key = Fernet.generate_key().decode()

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        assert not is_encrypted_with_primary(connection_row.credentials_encrypted)
        call_command("rotate_encryption_keys")
        rotated = ApiConnection.objects.get(pk=connection_row.pk)
        assert is_encrypted_with_primary(rotated.credentials_encrypted)

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert decrypt_credentials(rotated.credentials_encrypted, testnet=False).secret == SECRET


def test_a_bad_encryption_key_setting_is_a_one_line_error() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "FIELD_ENCRYPTION_KEYS": "not-a-key", "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: FIELD_ENCRYPTION_KEYS: key #1 is not a Fernet key")
