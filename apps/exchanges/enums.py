from django.db import models


class ExchangeCode(models.TextChoices):
    BINANCE = "BINANCE", "Binance"
    BYBIT = "BYBIT", "Bybit"
    OKX = "OKX", "OKX"
    SIM = "SIM", "Simulated exchange"


class ExchangeStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED = "degraded", "Degraded (retrying)"
    DOWN = "down", "Down"


class MarketTypeChoice(models.TextChoices):
    SPOT = "spot", "Spot"
    LINEAR_PERPETUAL = "linear_perpetual", "Linear perpetual"


class ConnectionStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified yet"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Rejected by the venue"
