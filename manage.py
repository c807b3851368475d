#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import sys

from trading_platform.bootstrap import exit_on_configuration_error, set_default_settings


def main() -> None:
    set_default_settings()
    from django.core.management import execute_from_command_line

    exit_on_configuration_error(lambda: execute_from_command_line(sys.argv))


if __name__ == "__main__":
    main()
