from __future__ import annotations

from decimal import Decimal

import factory

from apps.exchanges.models import Exchange, Symbol, symbol_slug


class ExchangeFactory(factory.django.DjangoModelFactory):
    """The migration seeds the four venues; factories reuse them by code."""

    class Meta:
        model = Exchange
        django_get_or_create = ("code",)

    code = "SIM"
    name = factory.LazyAttribute(lambda o: {"SIM": "Simulated exchange", "BINANCE": "Binance", "BYBIT": "Bybit", "OKX": "OKX"}[o.code])


class SymbolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Symbol
        django_get_or_create = ("exchange", "symbol")

    exchange = factory.SubFactory(ExchangeFactory)
    symbol = "BTC/USDT"
    slug = factory.LazyAttribute(lambda o: symbol_slug(o.symbol))
    venue_symbol = factory.LazyAttribute(lambda o: o.symbol.split(":")[0].replace("/", ""))
    base = factory.LazyAttribute(lambda o: o.symbol.split("/")[0])
    quote = factory.LazyAttribute(lambda o: o.symbol.split("/")[1].split(":")[0])
    market_type = factory.LazyAttribute(lambda o: "linear_perpetual" if ":" in o.symbol else "spot")
    tick_size = Decimal("0.01")
    lot_size = Decimal("0.00001")
    min_quantity = Decimal("0.00001")
    min_notional = Decimal("5")
    max_leverage = factory.LazyAttribute(lambda o: 125 if ":" in o.symbol else 1)
    active = True
