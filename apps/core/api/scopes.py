"""The scopes an API key can carry: every app's API views name the scope each method needs."""

from django.db import models


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read: accounts, balances, orders, positions, bots, market data"
    TRADE = "trade", "Trade: place and cancel orders, close positions"
    BOTS = "bots", "Bots: create, change, start, pause, resume and stop bots"
