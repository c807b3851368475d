"""The load test's users: created through the platform's services, reused on the next run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.accounts.models import ApiKey, User
from apps.market.services.demo import sim_symbols_prepare
from apps.portfolio.models import TradingAccount

pytestmark = pytest.mark.django_db


def _run(tmp_path: Path, *arguments: str) -> dict[str, list[dict[str, str]]]:
    output = tmp_path / "users.json"
    call_command("loadtest_users", *arguments, "--output", str(output), stdout=io.StringIO(), stderr=io.StringIO())
    assert output.stat().st_mode & 0o777 == 0o600
    return json.loads(output.read_text())


def test_traders_sign_in_and_bots_trade_with_their_keys(tmp_path: Path) -> None:
    sim_symbols_prepare()

    people = _run(tmp_path, "--traders", "2", "--bots", "1")

    assert len(people["traders"]) == 2 and len(people["bots"]) == 1
    trader, bot = people["traders"][0], people["bots"][0]
    assert Client().post("/accounts/login/", {"email": trader["email"], "password": trader["password"]}).status_code == 302
    response = Client().get("/api/v1/positions/", headers={"Authorization": f"Api-Key {bot['api_key']}"})
    assert response.status_code == 200
    assert TradingAccount.objects.filter(pk=trader["account"], mode="paper", exchange__code="SIM").exists()


def test_a_second_run_reuses_the_users_and_replaces_the_keys(tmp_path: Path) -> None:
    sim_symbols_prepare()
    first = _run(tmp_path, "--traders", "1", "--bots", "1")

    second = _run(tmp_path, "--traders", "1", "--bots", "1")

    assert User.objects.filter(email__endswith="@loadtest.invalid").count() == 2
    assert TradingAccount.objects.filter(owner__email__endswith="@loadtest.invalid").count() == 2
    assert first["bots"][0]["api_key"] != second["bots"][0]["api_key"]
    assert ApiKey.objects.filter(name="loadtest", revoked_at__isnull=True).count() == 1
    old = Client().get("/api/v1/positions/", headers={"Authorization": f"Api-Key {first['bots'][0]['api_key']}"})
    assert old.status_code == 401


def test_no_users_at_all_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="must be 0 or more and not both 0"):
        call_command("loadtest_users", "--traders", "0", "--bots", "0", "--output", str(tmp_path / "x.json"))
