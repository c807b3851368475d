"""`manage.py db_roles`: the roles an operator sets up on an external PostgreSQL."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[3]


def test_without_passwords_the_command_stops_with_one_line_naming_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_APP_PASSWORD", "DATABASE_SYSTEM_PASSWORD"}}
    env["DJANGO_SETTINGS_MODULE"] = "trading_platform.settings.test"

    result = subprocess.run([sys.executable, "manage.py", "db_roles", "--sql"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == "CommandError: Set DATABASE_APP_PASSWORD to a password of at least 16 characters."


def test_the_printed_sql_creates_both_roles_without_superuser_or_bypass_and_grants_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_APP_PASSWORD", "app-password-0123456789")
    monkeypatch.setenv("DATABASE_SYSTEM_PASSWORD", "system-pass'word-0123456789")

    call_command("db_roles", "--sql")

    sql = capsys.readouterr().out
    assert "ALTER ROLE \"tp_app\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'app-password-0123456789'" in sql
    assert "PASSWORD 'system-pass''word-0123456789'" in sql
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I" in sql


@pytest.mark.django_db
def test_a_login_that_may_not_create_roles_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_APP_PASSWORD", "app-password-0123456789")
    monkeypatch.setenv("DATABASE_SYSTEM_PASSWORD", "system-password-0123456789")
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the external login may well be allowed to create roles")

    with pytest.raises(CommandError, match="could not set up the roles as tp_owner: permission denied"):
        call_command("db_roles")
