"""A missing or malformed setting ends a command with one line naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    environment.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://localhost/db"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"JWT_ACCESS_MINUTES": "soon"}, "JWT_ACCESS_MINUTES"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"DATABASE_ROLE": "root"}, "DATABASE_ROLE"),
        ({"DJANGO_SETTINGS_MODULE": "trading_platform.settings.prod"}, "SECRET_KEY"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_a_non_zero_exit(env: dict[str, str], named: str) -> None:
    result = _manage("check", **env)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert lines[0].startswith("configuration error:")


def test_a_short_production_secret_key_is_refused() -> None:
    result = _manage("check", DJANGO_SETTINGS_MODULE="trading_platform.settings.prod", SECRET_KEY="short")

    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr
