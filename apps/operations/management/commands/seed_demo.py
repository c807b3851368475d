"""Seed the demo: a staff user, a trader, and the offline SIM market. Running it again changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import User
from apps.accounts.services import user_grant_staff, user_register

DEMO_TRADER = ("demo@example.com", "demo-password", "Demo Trader")
DEMO_ADMIN = ("admin@example.com", "admin-password", "Platform Admin")


class Command(BaseCommand):
    help = "Create the demo users and the offline SIM market (symbols, watched, with history). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        created = []
        with transaction.atomic():
            for email, password, name in (DEMO_ADMIN, DEMO_TRADER):
                if User.objects.filter(email=email).exists():
                    continue
                user = user_register(email=email, password=password, display_name=name)
                if email == DEMO_ADMIN[0]:
                    user_grant_staff(actor=None, user=user, superuser=True)
                created.append(email)
        if created:
            self.stdout.write(self.style.SUCCESS(f"demo users created: {', '.join(created)}"))
        else:
            self.stdout.write("demo users already present")
        self._seed_sim_market()
        self._seed_paper_account()

    def _seed_paper_account(self) -> None:
        from apps.exchanges.selectors import builtin_exchange
        from apps.portfolio.models import TradingAccount
        from apps.portfolio.services import paper_account_create

        trader = User.objects.get(email=DEMO_TRADER[0])
        sim = builtin_exchange("SIM")
        if TradingAccount.objects.filter(owner=trader, exchange=sim, mode="paper").exists():
            return
        paper_account_create(actor=trader, exchange=sim, initial_balances={"USDT": "10000"}, name="Paper SIM")
        self.stdout.write(self.style.SUCCESS("demo paper account on SIM with 10,000 USDT"))

    def _seed_sim_market(self) -> None:
        from tqdm import tqdm

        from apps.market.services.demo import sim_history_seed

        with tqdm(unit="candle", desc="SIM history", file=self.stderr, leave=False) as bar:

            def advance(symbol: str, count: int) -> None:
                bar.set_postfix_str(symbol)
                bar.update(count)

            written = sim_history_seed(progress=advance)
        if written:
            self.stdout.write(self.style.SUCCESS(f"SIM market: {written} 1m candles generated (and 5m to 1d rolled up)"))
        else:
            self.stdout.write("SIM market history already up to date")
