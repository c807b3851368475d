"""Positions and balances shaped for the pages (mark prices from the live market state)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.core.errors import ApplicationError
from apps.exchanges.models import Symbol
from apps.market.selectors import ticker_dicts
from apps.portfolio.domain.margin import isolated_liquidation_price, maintenance_margin, margin_ratio
from apps.portfolio.models import Balance, Position, TradingAccount

ZERO = Decimal(0)
MAINTENANCE_MARGIN_RATE = Decimal("0.005")


@dataclass(frozen=True)
class PositionRow:
    position: Position
    mark: Decimal | None
    unrealized_pnl: Decimal | None
    roi_percent: Decimal | None
    notional: Decimal | None
    liquidation_price: Decimal | None
    margin_ratio_percent: Decimal | None

    @property
    def side(self) -> str:
        return "Long" if self.position.quantity > 0 else "Short" if self.position.quantity < 0 else "Flat"

    @property
    def direction(self) -> str:
        if self.unrealized_pnl is None or self.unrealized_pnl == 0:
            return ""
        return "up" if self.unrealized_pnl > 0 else "down"


def marks_for(symbols: list[Symbol]) -> dict[Any, Decimal]:
    marks: dict[Any, Decimal] = {}
    by_exchange: dict[str, list[Symbol]] = {}
    for symbol in symbols:
        by_exchange.setdefault(symbol.exchange.code, []).append(symbol)
    for code, group in by_exchange.items():
        try:
            tickers = ticker_dicts(exchange_code=code, symbols=group)
        except ApplicationError:
            continue
        for symbol in group:
            data = tickers.get(symbol.slug)
            if data:
                marks[symbol.pk] = Decimal(str(data["last"]))
    return marks


def position_row(position: Position, mark: Decimal | None) -> PositionRow:
    if mark is None or position.quantity == 0:
        return PositionRow(position, mark, None, None, None, None, None)
    quantity = position.quantity
    unrealized = (mark - position.entry_price) * quantity
    notional = abs(quantity) * mark
    margin = position.isolated_margin if position.isolated_margin > 0 else abs(quantity) * position.entry_price / Decimal(position.leverage)
    roi = unrealized / margin * 100 if margin > 0 else None
    liquidation = None
    ratio = None
    if position.symbol.is_perpetual:
        liquidation = isolated_liquidation_price(
            quantity=quantity, entry_price=position.entry_price, leverage=position.leverage, maintenance_margin_rate=MAINTENANCE_MARGIN_RATE
        )
        ratio = margin_ratio(maintenance_margin(notional, MAINTENANCE_MARGIN_RATE), margin + unrealized) * 100
    quant = Decimal("0.01")
    return PositionRow(
        position=position,
        mark=mark,
        unrealized_pnl=unrealized.quantize(Decimal("0.00000001")),
        roi_percent=roi.quantize(quant) if roi is not None else None,
        notional=notional.quantize(quant),
        liquidation_price=position.symbol.round_price(liquidation) if liquidation else None,
        margin_ratio_percent=min(ratio, Decimal(999)).quantize(quant) if ratio is not None and ratio.is_finite() else None,
    )


def position_rows(*, owner_id: Any, account: TradingAccount | None = None, symbol_id: Any = None, mode: str | None = None) -> list[PositionRow]:
    positions = Position.objects.filter(account__owner_id=owner_id).select_related("symbol", "symbol__exchange", "account", "account__exchange")
    if account is not None:
        positions = positions.filter(account=account)
    if mode:
        positions = positions.filter(account__mode=mode)
    if symbol_id is not None:
        positions = positions.filter(symbol_id=symbol_id)
    else:
        positions = positions.exclude(quantity=0)
    positions_list = list(positions.order_by("-opened_at"))
    marks = marks_for([p.symbol for p in positions_list if p.quantity != 0])
    return [position_row(p, marks.get(p.symbol_id)) for p in positions_list]


def balances_context(*, account: TradingAccount) -> dict[str, Any]:
    return {"account": account, "balances": list(Balance.objects.filter(account=account).order_by("asset"))}


def account_equity(*, account: TradingAccount) -> Decimal:
    """Quote-currency value: balances (assets other than the quote at their mark) plus open P&L."""
    from apps.exchanges.models import Symbol as SymbolModel

    quote_assets = {"USDT", "USDC", "USD"}
    balances = list(Balance.objects.filter(account=account))
    total = sum((b.total for b in balances if b.asset in quote_assets), ZERO)
    others = [b for b in balances if b.asset not in quote_assets and b.total > 0]
    if others:
        symbols = list(
            SymbolModel.objects.filter(exchange=account.exchange, base__in=[b.asset for b in others], quote="USDT", market_type="spot").select_related(
                "exchange"
            )
        )
        marks = marks_for(symbols)
        by_base = {s.base: marks.get(s.pk) for s in symbols}
        total += sum((b.total * (by_base.get(b.asset) or ZERO) for b in others), ZERO)
    for row in position_rows(owner_id=account.owner_id, account=account):
        if row.position.symbol.is_perpetual and row.unrealized_pnl is not None:
            total += row.unrealized_pnl
    return total
