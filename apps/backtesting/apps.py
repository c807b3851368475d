from django.apps import AppConfig


class BacktestingConfig(AppConfig):
    name = "apps.backtesting"
    label = "backtesting"
    verbose_name = "Backtesting"
