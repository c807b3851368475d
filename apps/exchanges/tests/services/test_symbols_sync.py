"""Loading SIM's markets into Symbol rows: exact rules, idempotent, delisted markets switched off."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import symbols_sync
from apps.exchanges.tests.factories import SymbolFactory

pytestmark = pytest.mark.django_db

RULES = {
    # symbol: (slug, venue symbol, market type, tick, lot, min notional, max leverage)
    "BTC/USDT": ("BTC-USDT", "BTCUSDT", "spot", "0.01", "0.00001", "5", 1),
    "ETH/USDT": ("ETH-USDT", "ETHUSDT", "spot", "0.01", "0.0001", "5", 1),
    "SOL/USDT": ("SOL-USDT", "SOLUSDT", "spot", "0.01", "0.001", "5", 1),
    "BTC/USDT:USDT": ("BTC-USDT-PERP", "BTCUSDT-PERP", "linear_perpetual", "0.1", "0.001", "100", 125),
    "ETH/USDT:USDT": ("ETH-USDT-PERP", "ETHUSDT-PERP", "linear_perpetual", "0.01", "0.001", "20", 100),
}


@pytest.fixture
def sim() -> Exchange:
    return builtin_exchange("SIM")


def test_the_first_sync_creates_every_sim_symbol_with_its_rules(sim) -> None:
    counts = symbols_sync(exchange=sim)

    assert counts == {"created": 5, "updated": 0, "deactivated": 0, "total": 5}
    stored = {s.symbol: s for s in Symbol.objects.filter(exchange=sim)}
    assert set(stored) == set(RULES)
    for name, (slug, venue_symbol, market_type, tick, lot, min_notional, leverage) in RULES.items():
        symbol = stored[name]
        assert (symbol.slug, symbol.venue_symbol, symbol.market_type) == (slug, venue_symbol, market_type), name
        assert (symbol.tick_size, symbol.lot_size, symbol.min_quantity) == (Decimal(tick), Decimal(lot), Decimal(lot)), name
        assert (symbol.min_notional, symbol.max_leverage) == (Decimal(min_notional), leverage), name
        assert symbol.active and not symbol.watched, name
    assert stored["BTC/USDT"].round_price(Decimal("60000.016")) == Decimal("60000.02")
    assert AuditEvent.objects.filter(action="symbols.synced", summary="SIM: 5 new, 0 updated, 0 inactive").exists()


def test_a_second_sync_changes_nothing(sim) -> None:
    symbols_sync(exchange=sim)
    before = {s.symbol: s.updated_at for s in Symbol.objects.filter(exchange=sim)}

    counts = symbols_sync(exchange=sim)

    assert counts == {"created": 0, "updated": 0, "deactivated": 0, "total": 5}
    assert {s.symbol: s.updated_at for s in Symbol.objects.filter(exchange=sim)} == before


def test_a_changed_rule_is_corrected_and_a_watched_flag_is_kept(sim) -> None:
    symbols_sync(exchange=sim)
    Symbol.objects.filter(exchange=sim, symbol="ETH/USDT").update(tick_size=Decimal("0.1"), watched=True)

    counts = symbols_sync(exchange=sim)

    assert (counts["created"], counts["updated"]) == (0, 1)
    eth = Symbol.objects.get(exchange=sim, symbol="ETH/USDT")
    assert eth.tick_size == Decimal("0.01") and eth.watched


def test_a_market_the_venue_no_longer_lists_becomes_inactive_and_a_relisted_one_active(sim) -> None:
    symbols_sync(exchange=sim)
    delisted = SymbolFactory(exchange=sim, symbol="DOGE/USDT", watched=True)
    Symbol.objects.filter(exchange=sim, symbol="SOL/USDT").update(active=False)

    counts = symbols_sync(exchange=sim)

    assert counts == {"created": 0, "updated": 1, "deactivated": 1, "total": 5}
    delisted.refresh_from_db()
    assert delisted.active is False
    assert Symbol.objects.get(exchange=sim, symbol="SOL/USDT").active is True
    assert symbols_sync(exchange=sim)["deactivated"] == 0, "already inactive: not counted again"


def test_other_exchanges_symbols_are_left_alone(sim) -> None:
    binance_btc = SymbolFactory(exchange__code="BINANCE", symbol="BTC/USDT")

    symbols_sync(exchange=sim)

    binance_btc.refresh_from_db()
    assert binance_btc.active
    assert Symbol.objects.filter(exchange=sim).count() == 5
