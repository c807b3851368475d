"""Safe defaults: no signing key in the source, no technical pages, JSON errors under /api/,
a strict Content-Security-Policy, no caching of signed-in responses, no key echoed into a form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.test import Client, override_settings

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header, bearer
from apps.exchanges.tests.factories import ExchangeFactory
from trading_platform.settings.env import local_secret_key

pytestmark = pytest.mark.django_db

REPOSITORY = Path(settings.BASE_DIR)
TEMPLATE_FOLDERS = [REPOSITORY / "templates", *sorted((REPOSITORY / "apps").glob("*/templates"))]
# Markup the CSP refuses: inline scripts, inline styles and style attributes, inline event handlers, htmx's eval'd hx-on.
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|\shx-on|javascript:", re.IGNORECASE)


def _settings_in_a_fresh_process(module: str, environment: dict[str, str]) -> list[str]:
    code = "from django.conf import settings; print(settings.SECRET_KEY); print(settings.DEBUG)"
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG"}}
    env.update({"DJANGO_SETTINGS_MODULE": module, **environment})
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.split()


def test_make_run_signs_with_a_generated_key_and_shows_no_technical_pages() -> None:
    secret_key, debug = _settings_in_a_fresh_process("trading_platform.settings.local", {})

    assert secret_key == (REPOSITORY / ".local" / "secret-key").read_text().strip()
    assert len(secret_key) >= 64
    assert debug == "False"
    assert _settings_in_a_fresh_process("trading_platform.settings.local", {"DEBUG": "true"})[1] == "True"


def test_a_generated_key_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secret-key"

    first = local_secret_key(path)

    assert local_secret_key(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert local_secret_key(tmp_path / "another") != first


def test_no_signing_key_is_written_in_the_source() -> None:
    settings_sources = "".join(path.read_text() for path in (REPOSITORY / "trading_platform" / "settings").glob("*.py"))

    assert not re.search(r"SECRET_KEY\s*=\s*env_str\(\s*\"SECRET_KEY\"\s*,\s*\"[^\"]+\"", settings_sources)


def test_a_token_signed_with_the_key_that_was_once_in_the_source_is_refused(client: Client) -> None:
    user = UserFactory()
    forged = jwt.encode(
        {"token_type": "access", "user_id": str(user.pk), "exp": 4102444800, "jti": "x"},
        "local-development-only-secret-key-change-me-in-production",
        algorithm="HS256",
    )

    response = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401


def test_an_invalid_token_is_refused_in_a_plain_sentence(client: Client) -> None:
    response = client.get("/api/v1/me/", headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == 401
    message = response.json()["message"]
    assert "ErrorDetail" not in message and "{" not in message
    assert message.endswith(".")


@override_settings(DEBUG=True)
def test_unknown_api_paths_answer_the_json_error_body_even_with_debug_on(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Nothing lives at this address.", "extra": {}}


def test_every_page_carries_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/accounts/login/")

    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_no_template_holds_code_the_policy_would_refuse() -> None:
    offenders = [
        f"{path.relative_to(REPOSITORY)}: {match.group(0).strip()}"
        for folder in TEMPLATE_FOLDERS
        for path in sorted(folder.rglob("*.html"))
        for match in INLINE_CODE.finditer(path.read_text())
    ]

    assert offenders == []


def test_signed_in_pages_and_every_api_response_are_not_stored(client: Client) -> None:
    user = UserFactory()
    anonymous_page = client.get("/accounts/login/")
    api_error = client.get("/api/v1/me/")
    client.force_login(user)
    page = client.get("/connections/")
    api_by_token = Client().get("/api/v1/me/", headers=bearer(user))

    assert "no-store" not in anonymous_page.get("Cache-Control", "")
    assert "no-store" in api_error["Cache-Control"]
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in api_by_token["Cache-Control"]


def test_the_response_showing_a_new_api_key_is_not_stored(client: Client) -> None:
    user = UserFactory()

    response = Client().post("/api/v1/api-keys/", {"name": "bot", "scopes": ["read"]}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in Client().get("/api/v1/me/", headers=api_key_header(response.json()["key"]))["Cache-Control"]


def test_a_connection_form_with_an_error_does_not_echo_the_keys(client: Client) -> None:
    ExchangeFactory(code="BINANCE")
    client.force_login(UserFactory())

    response = client.post(
        "/connections/", {"exchange": "BINANCE", "label": "", "api_key": "AKIA-visible-key", "secret": "top-secret-value", "passphrase": "pass-phrase-value"}
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "AKIA-visible-key" not in body and "top-secret-value" not in body and "pass-phrase-value" not in body
