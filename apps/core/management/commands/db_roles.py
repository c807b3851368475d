"""Create or update the application and system roles on an external PostgreSQL, and grant them.

Run as a login allowed to create roles (the superuser of the compose file's postgres), with
DATABASE_URL naming the database, before or after `migrate` (migrate grants them again):

    DATABASE_APP_PASSWORD=... DATABASE_SYSTEM_PASSWORD=... python manage.py db_roles

`--sql` prints the statements instead, for an operator who runs them by hand.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from apps.core.db_roles import APP_ROLE, GRANT_STATEMENTS, SYSTEM_ROLE, role_statements

PASSWORD_VARIABLES = {APP_ROLE: "DATABASE_APP_PASSWORD", SYSTEM_ROLE: "DATABASE_SYSTEM_PASSWORD"}
MIN_PASSWORD_LENGTH = 16


def _password(variable: str) -> str:
    value = os.environ.get(variable, "")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise CommandError(f"Set {variable} to a password of at least {MIN_PASSWORD_LENGTH} characters.")
    return value


class Command(BaseCommand):
    help = "Create or update the tp_app and tp_system roles (passwords from DATABASE_APP_PASSWORD, DATABASE_SYSTEM_PASSWORD) and grant them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sql", action="store_true", help="print the SQL instead of running it")

    def handle(self, *args: Any, **options: Any) -> None:
        statements = [statement for role, variable in PASSWORD_VARIABLES.items() for statement in role_statements(role, _password(variable))]
        statements.append(GRANT_STATEMENTS.strip())
        if options["sql"]:
            self.stdout.write(";\n".join(statements) + ";")
            return
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        except DatabaseError as exc:
            raise CommandError(
                f"could not set up the roles as {connection.settings_dict['USER'] or 'this login'}: {str(exc).strip().splitlines()[0]}"
            ) from None
        self.stdout.write(self.style.SUCCESS(f"roles {APP_ROLE} and {SYSTEM_ROLE} ready on {connection.settings_dict['NAME']}"))
