from django.db import models

from apps.orders.domain.model import OrderStatus


class OrderSideChoice(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class OrderTypeChoice(models.TextChoices):
    MARKET = "MARKET", "Market"
    LIMIT = "LIMIT", "Limit"
    STOP_MARKET = "STOP_MARKET", "Stop market"
    STOP_LIMIT = "STOP_LIMIT", "Stop limit"
    TAKE_PROFIT = "TAKE_PROFIT", "Take profit"


class OrderStatusChoice(models.TextChoices):
    NEW = "NEW", "New"
    OPEN = "OPEN", "Open"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCELED = "CANCELED", "Canceled"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


class FillLiquidityChoice(models.TextChoices):
    MAKER = "MAKER", "Maker"
    TAKER = "TAKER", "Taker"
    LIQUIDATION = "LIQUIDATION", "Liquidation"


class TimeInForceChoice(models.TextChoices):
    GTC = "GTC", "Good till canceled"
    IOC = "IOC", "Immediate or cancel"
    FOK = "FOK", "Fill or kill"


OPEN_STATUSES = [OrderStatus.NEW.value, OrderStatus.OPEN.value, OrderStatus.PARTIALLY_FILLED.value]


class OrderSource(models.TextChoices):
    UI = "ui", "Web"
    API = "api", "API"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"
