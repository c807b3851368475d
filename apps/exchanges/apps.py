from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    name = "apps.exchanges"
    label = "exchanges"
    verbose_name = "Exchanges"

    def ready(self) -> None:
        from apps.core.health import register_venue_statuses
        from apps.core.schedules import Schedule, register_schedule
        from apps.exchanges.health import venue_statuses

        register_venue_statuses(venue_statuses)

        for code in ("SIM", "BINANCE", "BYBIT", "OKX"):
            register_schedule(
                Schedule(f"Sync {code} symbols", "exchanges.symbols_sync", every_seconds=24 * 3600, queue="market", kwargs={"exchange_code": code})
            )
