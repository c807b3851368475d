"""Positions and balances shaped for the pages (mark prices from the live market state)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.core.errors import ApplicationError
from apps.exchanges.enums import MarketTypeChoice
from apps.exchanges.models import Symbol
from apps.market.selectors import ticker_dicts
from apps.portfolio.domain.balances import Balance as DomainBalance
from apps.portfolio.domain.balances import Balances
from apps.portfolio.domain.balances import account_equity as domain_account_equity
from apps.portfolio.domain.margin import (
    cross_available_margin,
    cross_liquidation_price,
    initial_margin,
    liquidation_price,
    maintenance_margin,
    margin_balance,
    margin_ratio,
)
from apps.portfolio.domain.positions import Position as DomainPosition
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
    last: Decimal | None = None
    """The last trade price; perpetuals are marked (P&L, margin ratio, liquidation) at `mark`."""

    @property
    def side(self) -> str:
        return "Long" if self.position.quantity > 0 else "Short" if self.position.quantity < 0 else "Flat"

    @property
    def direction(self) -> str:
        if self.unrealized_pnl is None or self.unrealized_pnl == 0:
            return ""
        return "up" if self.unrealized_pnl > 0 else "down"


def _ticker_prices(symbols: list[Symbol]) -> dict[Any, tuple[Decimal, Decimal]]:
    """Symbol id -> (mark, last) from the live tickers. A perpetual is marked at its venue's mark
    price where the venue publishes one (SIM does), otherwise at the last trade; spot at the last."""
    prices: dict[Any, tuple[Decimal, Decimal]] = {}
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
                last = Decimal(str(data["last"]))
                mark = data.get("mark") if symbol.is_perpetual else None
                prices[symbol.pk] = (Decimal(str(mark)) if mark else last, last)
    return prices


def marks_for(symbols: list[Symbol]) -> dict[Any, Decimal]:
    return {pk: mark for pk, (mark, _) in _ticker_prices(symbols).items()}


@dataclass(frozen=True)
class CrossWallet:
    """What a cross-margin position of an account can lose: the quote wallet, and the other open
    perpetual positions' unrealised P&L and maintenance margin at their marks."""

    wallet: Decimal
    positions: tuple[tuple[Any, Decimal, Decimal], ...]  # (symbol id, unrealised P&L, maintenance margin)

    def _others(self, symbol_id: Any) -> tuple[Decimal, Decimal]:
        others = [(pnl, maintenance) for other, pnl, maintenance in self.positions if other != symbol_id]
        return sum((pnl for pnl, _ in others), ZERO), sum((maintenance for _, maintenance in others), ZERO)

    def available(self, *, symbol_id: Any) -> Decimal:
        """What the position in `symbol_id` can lose before it is liquidated (its backing margin)."""
        pnl, maintenance = self._others(symbol_id)
        return cross_available_margin(wallet_balance=self.wallet, other_unrealized_pnl=pnl, other_maintenance_margin=maintenance)

    def liquidation_price(self, *, symbol_id: Any, quantity: Decimal, entry_price: Decimal) -> Decimal | None:
        pnl, maintenance = self._others(symbol_id)
        return cross_liquidation_price(
            quantity=quantity,
            entry_price=entry_price,
            maintenance_margin_rate=MAINTENANCE_MARGIN_RATE,
            wallet_balance=self.wallet,
            other_unrealized_pnl=pnl,
            other_maintenance_margin=maintenance,
        )


def cross_wallet(*, account: TradingAccount, quote: str, marks: dict[Any, Decimal] | None = None) -> CrossWallet:
    wallet = Balance.objects.filter(account=account, asset=quote).first()
    open_perps = list(
        Position.objects.filter(account=account, symbol__market_type=MarketTypeChoice.LINEAR_PERPETUAL)
        .exclude(quantity=0)
        .select_related("symbol", "symbol__exchange")
    )
    marks = dict(marks or {})
    missing = [p.symbol for p in open_perps if p.symbol_id not in marks]
    if missing:  # the account's other positions, when the caller priced only some
        marks |= marks_for(missing)
    positions = []
    for p in open_perps:
        mark = marks.get(p.symbol_id, p.entry_price)
        positions.append((p.symbol_id, (mark - p.entry_price) * p.quantity, maintenance_margin(abs(p.quantity) * mark, MAINTENANCE_MARGIN_RATE)))
    return CrossWallet(wallet.total if wallet is not None else ZERO, tuple(positions))


def posted_margin(position: Position) -> Decimal:
    """The margin posted to the position (less any funding paid from it); from its leverage if none was recorded."""
    if position.isolated_margin > 0:
        return position.isolated_margin
    return initial_margin(abs(position.quantity) * position.entry_price, position.leverage)


def backing_margin(position: Position, cross: CrossWallet | None = None) -> Decimal:
    """What the position can lose before it is liquidated. Isolated: its posted margin. Cross: the whole
    wallet plus the account's other positions' unrealised P&L less their maintenance margin."""
    if position.margin_mode == "CROSS":
        cross = cross or cross_wallet(account=position.account, quote=position.symbol.quote)
        return cross.available(symbol_id=position.symbol_id)
    return posted_margin(position)


def position_liquidation_price(position: Position, cross: CrossWallet | None = None) -> Decimal | None:
    """The mark at which the position's margin ratio reaches 100 % (exact; round it to the tick at the edge)."""
    return liquidation_price(
        quantity=position.quantity,
        entry_price=position.entry_price,
        margin=backing_margin(position, cross),
        maintenance_margin_rate=MAINTENANCE_MARGIN_RATE,
    )


def position_margin_ratio(*, quantity: Decimal, entry_price: Decimal, margin: Decimal, mark: Decimal) -> Decimal:
    """Maintenance margin / margin balance at `mark` (1 = liquidation): the venue's rule, exact."""
    maintenance = maintenance_margin(abs(quantity) * mark, MAINTENANCE_MARGIN_RATE)
    return margin_ratio(maintenance, margin_balance(margin, (mark - entry_price) * quantity))


def position_row(position: Position, mark: Decimal | None, cross: CrossWallet | None = None, last: Decimal | None = None) -> PositionRow:
    if mark is None or position.quantity == 0:
        return PositionRow(position, mark, None, None, None, None, None, last)
    quantity = position.quantity
    unrealized = (mark - position.entry_price) * quantity
    notional = abs(quantity) * mark
    margin = posted_margin(position)
    roi = unrealized / margin * 100 if margin > 0 else None
    liquidation = None
    ratio = None
    if position.symbol.is_perpetual:
        backing = backing_margin(position, cross)
        liquidation = liquidation_price(quantity=quantity, entry_price=position.entry_price, margin=backing, maintenance_margin_rate=MAINTENANCE_MARGIN_RATE)
        ratio = position_margin_ratio(quantity=quantity, entry_price=position.entry_price, margin=backing, mark=mark) * 100
    quant = Decimal("0.01")
    return PositionRow(
        position=position,
        last=last,
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
    prices = _ticker_prices([p.symbol for p in positions_list if p.quantity != 0])
    marks = {pk: mark for pk, (mark, _) in prices.items()}
    wallets: dict[tuple[Any, str], CrossWallet] = {}
    return [
        position_row(p, marks.get(p.symbol_id), cross_for(p, marks, wallets), last=prices[p.symbol_id][1] if p.symbol_id in prices else None)
        for p in positions_list
    ]


def cross_for(position: Position, marks: dict[Any, Decimal], wallets: dict[tuple[Any, str], CrossWallet] | None = None) -> CrossWallet | None:
    """The cross wallet a CROSS position's liquidation price is computed from (None for isolated ones);
    `wallets` keeps each account's, so a page of cross positions reads it once."""
    if position.margin_mode != "CROSS" or position.quantity == 0 or not position.symbol.is_perpetual:
        return None
    key = (position.account_id, position.symbol.quote)
    wallets = {} if wallets is None else wallets
    if key not in wallets:
        wallets[key] = cross_wallet(account=position.account, quote=position.symbol.quote, marks=marks)
    return wallets[key]


def balances_context(*, account: TradingAccount) -> dict[str, Any]:
    return {"account": account, "balances": list(Balance.objects.filter(account=account).order_by("asset"))}


def account_equity(*, account: TradingAccount) -> Decimal:
    """The account's value in USDT, by the domain's `account_equity`: balances (other assets at their
    USDT mark, USD stablecoins at par) plus the open perpetual positions' unrealised P&L. An asset or a
    position with no price right now is left out rather than guessed."""
    from apps.exchanges.models import Symbol as SymbolModel

    quote = "USDT"
    rows = [b for b in Balance.objects.filter(account=account) if b.total > 0]
    marks: dict[str, Decimal] = {f"{stable}/{quote}": Decimal(1) for stable in ("USDC", "USD")}
    others = [b.asset for b in rows if b.asset != quote and f"{b.asset}/{quote}" not in marks]
    if others:
        spot = list(SymbolModel.objects.filter(exchange=account.exchange, base__in=others, quote=quote, market_type="spot").select_related("exchange"))
        spot_marks = marks_for(spot)
        marks |= {f"{s.base}/{quote}": spot_marks[s.pk] for s in spot if s.pk in spot_marks}
    balances = Balances([DomainBalance(b.asset, b.free, b.locked) for b in rows if b.asset == quote or f"{b.asset}/{quote}" in marks])
    positions = []
    for row in position_rows(owner_id=account.owner_id, account=account):
        position = row.position
        if position.symbol.is_perpetual and row.mark is not None:
            marks[position.symbol.symbol] = row.mark
            positions.append(DomainPosition(position.symbol.symbol, quantity=position.quantity, entry_price=position.entry_price))
    return domain_account_equity(balances, positions, marks, quote=quote)
