from django.db import models


class AccountMode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class TradingState(models.TextChoices):
    ACTIVE = "active", "Active"
    REDUCE_ONLY = "reduce_only", "Reduce-only"
    HALTED = "halted", "Halted"
