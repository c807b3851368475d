from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    name = "apps.exchanges"
    label = "exchanges"
    verbose_name = "Exchanges"

    def ready(self) -> None:
        from apps.core.schedules import Schedule, register_schedule

        for code in ("SIM", "BINANCE", "BYBIT", "OKX"):
            register_schedule(
                Schedule(f"Sync {code} symbols", "exchanges.symbols_sync", every_seconds=24 * 3600, queue="market", kwargs={"exchange_code": code})
            )
