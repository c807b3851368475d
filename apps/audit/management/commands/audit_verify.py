"""`manage.py audit_verify [--month YYYY-MM]`: re-compute the audit hash chains; exit 1 naming the first broken event."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.audit.services import audit_verification_run
from apps.audit.verification import audit_events_expected


def parse_month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--month must be YYYY-MM, got {text!r}") from None


class Command(BaseCommand):
    help = "Re-compute the audit trail's hash chains (every month, or one) and name the first broken event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", help="Only this month, YYYY-MM")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs)")

    def handle(self, *args: Any, **options: Any) -> None:
        month = parse_month(options["month"]) if options["month"] else None
        total = audit_events_expected(month)
        with tqdm(total=total, unit="event", desc="audit chain", disable=options["no_progress"], file=self.stderr, leave=False) as bar:
            verification = audit_verification_run(month=month, progress=bar.update)
        if not verification.ok:
            raise CommandError(verification.message)
        self.stdout.write(verification.message)
