"""What an order would cost before it is placed: nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.core.errors import ApplicationError
from apps.orders.domain.model import OrderType
from apps.orders.domain.validation import validate_order
from apps.orders.services.market_inputs import current_book, fee_schedule, symbol_rules
from apps.orders.services.placement import OrderRequest, _exposure_after, _intent, _risk_verdict, _validate_attached_exits, required_hold
from apps.portfolio.domain.margin import isolated_liquidation_price
from apps.portfolio.models import Balance, Position, TradingAccount
from apps.portfolio.presentation import cross_wallet

MAINTENANCE_MARGIN_RATE = Decimal("0.005")


@dataclass(frozen=True)
class OrderPreview:
    quantity: Decimal | None = None
    price: Decimal | None = None
    notional: Decimal | None = None
    fee: Decimal | None = None
    hold_asset: str = ""
    hold_amount: Decimal | None = None
    free: Decimal | None = None
    liquidation_price: Decimal | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def order_preview(*, actor: Any, account: TradingAccount, request: OrderRequest) -> OrderPreview:
    symbol = request.symbol
    try:
        book = current_book(symbol)
        reference = book.mid or book.best_bid or book.best_ask
        intent = _intent(request, request.client_order_id or "preview", reference)
    except ApplicationError as exc:
        return OrderPreview(problems=(exc.message,))
    problems = [violation.message for violation in validate_order(intent, symbol_rules(symbol), reference)]
    price = intent.price if intent.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else (intent.stop_price or reference)
    notional = intent.quantity * price if price else None
    position = Position.objects.filter(account=account, symbol=symbol).first() or Position(account=account, symbol=symbol)
    adding, _ = _exposure_after(position.quantity, intent)
    asset, hold = required_hold(account=account, symbol=symbol, intent=intent, reference=reference, increases=adding) if reference else ("", None)
    free = Balance.objects.filter(account=account, asset=asset).values_list("free", flat=True).first() or Decimal(0)
    if hold is not None and hold > free and not problems:
        problems.append(f"Not enough {asset}: needs {hold.quantize(Decimal('0.00000001'))}, {free.normalize():f} free.")
    if not problems and reference is not None:
        try:
            _validate_attached_exits(intent, request, reference)
            _risk_verdict(owner=account.owner, account=account, symbol=symbol, intent=intent, position=position, reference=reference, extra_limits=[])
        except ApplicationError as exc:
            problems.append(exc.message)
    liquidation = None
    if symbol.is_perpetual and price and intent.quantity > 0:
        signed = intent.quantity * intent.side.sign
        if intent.margin_mode.value == "CROSS":
            # the whole quote wallet backs it, the account's other perpetual positions as they stand
            liquidation = cross_wallet(account=account, quote=symbol.quote).liquidation_price(symbol_id=symbol.pk, quantity=signed, entry_price=price)
        else:
            liquidation = isolated_liquidation_price(
                quantity=signed, entry_price=price, leverage=intent.leverage, maintenance_margin_rate=MAINTENANCE_MARGIN_RATE
            )
        liquidation = symbol.round_price(liquidation) if liquidation else None
    fees = fee_schedule(account, symbol)
    fee = notional * (fees.maker_rate if intent.post_only else fees.taker_rate) if notional else None
    quant = Decimal("0.00000001")
    return OrderPreview(
        quantity=intent.quantity,
        price=price,
        notional=notional.quantize(quant) if notional else None,
        fee=fee.quantize(quant) if fee is not None else None,
        hold_asset=asset,
        hold_amount=hold.quantize(quant) if hold is not None else None,
        free=free,
        liquidation_price=liquidation,
        problems=tuple(problems),
    )
