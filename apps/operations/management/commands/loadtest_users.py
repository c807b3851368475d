from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, api_key_revoke, user_register, user_set_password
from apps.exchanges.selectors import builtin_exchange
from apps.portfolio.models import TradingAccount
from apps.portfolio.services import paper_account_create

EMAIL_DOMAIN = "loadtest.invalid"  # a reserved name: no mail ever reaches anyone
KEY_NAME = "loadtest"
INITIAL_BALANCES = {"USDT": "1000000", "BTC": "100"}


class Command(BaseCommand):
    help = "Create (or reuse) the traders and bot API keys the load test signs in with, and write their credentials for it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--traders", type=int, default=200, help="Traders who sign in on the pages (default 200).")
        parser.add_argument("--bots", type=int, default=20, help="Bots that place orders with an API key (default 20).")
        parser.add_argument("--output", type=Path, default=Path(settings.BASE_DIR) / ".local" / "loadtest" / "users.json")

    def handle(self, *args: Any, **options: Any) -> None:
        traders, bots = options["traders"], options["bots"]
        if traders < 0 or bots < 0 or traders + bots == 0:
            raise CommandError(f"--traders and --bots must be 0 or more and not both 0, got {traders} and {bots}.")
        sim = builtin_exchange("SIM")
        password = secrets.token_urlsafe(18)  # one per run: the file below is the only place it is kept
        people: list[dict[str, str]] = []
        for index in tqdm(range(traders + bots), desc="Load-test users", unit="user", file=self.stderr, leave=False):
            role = "trader" if index < traders else "bot"
            people.append(self._user(f"{role}-{index}@{EMAIL_DOMAIN}", password, role, sim))
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"traders": [p for p in people if p["role"] == "trader"], "bots": [p for p in people if p["role"] == "bot"]}, indent=1))
        output.chmod(0o600)
        self.stdout.write(f"{traders} traders and {bots} bots ready; credentials in {output}")

    @transaction.atomic
    def _user(self, email: str, password: str, role: str, sim: Any) -> dict[str, str]:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_register(email=email, password=password, display_name=f"Load test {role}")
        else:
            user_set_password(actor=None, user=user, password=password, reason="load test")
        account = TradingAccount.objects.filter(owner=user, exchange=sim, mode="paper").first()
        if account is None:
            account = paper_account_create(actor=user, exchange=sim, initial_balances=INITIAL_BALANCES, name="Load test")
        person = {"email": email, "password": password, "role": role, "account": str(account.pk)}
        if role == "bot":
            for old in ApiKey.objects.filter(user=user, name=KEY_NAME, revoked_at__isnull=True):
                api_key_revoke(actor=user, api_key_id=old.pk)
            person["api_key"] = api_key_create(actor=user, name=KEY_NAME, scopes=["read", "trade"]).plaintext
        return person
