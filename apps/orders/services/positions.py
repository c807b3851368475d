"""Closing positions and setting their exits: orders like any other, through order_submit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from apps.audit.services import audit_record, diff_fields
from apps.core.errors import ValidationError
from apps.orders.enums import OrderSource
from apps.orders.errors import OrderErrorCode
from apps.orders.models import Order
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.services.push import push_account_changes
from apps.portfolio.models import Position
from apps.portfolio.selectors import position_get


def position_close(*, actor: Any, position_id: Any, order_type: str = "MARKET", price: Decimal | None = None, source: str = OrderSource.UI) -> Order:
    """A reduce-only order for the whole open quantity (market, or limit at `price`)."""
    position = position_get(actor=actor, position_id=position_id)
    if position.quantity == 0:
        raise ValidationError("This position is already closed.", code=OrderErrorCode.POSITION_NOT_OPEN)
    order_type = order_type.upper()
    if order_type not in ("MARKET", "LIMIT"):
        raise ValidationError.for_field("order_type", "Close with a MARKET or a LIMIT order.")
    if order_type == "LIMIT" and price is None:
        raise ValidationError.for_field("price", "A limit close needs a price.")
    return order_submit(
        actor=actor,
        account=position.account,
        request=OrderRequest(
            symbol=position.symbol,
            side="SELL" if position.quantity > 0 else "BUY",
            order_type=order_type,
            quantity=abs(position.quantity),
            price=price if order_type == "LIMIT" else None,
            reduce_only=position.symbol.is_perpetual,
            leverage=position.leverage,
            source=source,
        ),
    )


@transaction.atomic
def position_set_sl_tp(*, actor: Any, position_id: Any, stop_loss: Decimal | None, take_profit: Decimal | None) -> Position:
    """Exits watched by the paper matcher (paper) or placed on the venue (live). Empty clears."""
    position = position_get(actor=actor, position_id=position_id)
    position = Position.objects.select_for_update(of=("self",)).select_related("symbol", "account").get(pk=position.pk)
    if position.quantity == 0:
        raise ValidationError("This position is closed.", code=OrderErrorCode.POSITION_NOT_OPEN)
    long = position.quantity > 0
    entry = position.entry_price
    for name, value in (("stop_loss", stop_loss), ("take_profit", take_profit)):
        if value is None:
            continue
        if value <= 0:
            raise ValidationError.for_field(name, "Prices must be positive.")
        if value % position.symbol.tick_size != 0:
            raise ValidationError.for_field(name, f"{value} is not a multiple of the tick size {position.symbol.tick_size.normalize():f}.")
    if stop_loss is not None and ((long and stop_loss >= entry) or (not long and stop_loss <= entry)):
        raise ValidationError.for_field(
            "stop_loss", f"The stop-loss of a {'long' if long else 'short'} must be {'below' if long else 'above'} the entry {entry.normalize():f}."
        )
    if take_profit is not None and ((long and take_profit <= entry) or (not long and take_profit >= entry)):
        raise ValidationError.for_field(
            "take_profit", f"The take-profit of a {'long' if long else 'short'} must be {'above' if long else 'below'} the entry {entry.normalize():f}."
        )
    before = {"stop_loss": position.stop_loss, "take_profit": position.take_profit}
    position.stop_loss, position.take_profit = stop_loss, take_profit
    position.save(update_fields=["stop_loss", "take_profit", "updated_at"])
    changes = {
        k: [str(v[0]) if v[0] is not None else None, str(v[1]) if v[1] is not None else None]
        for k, v in diff_fields(before, {"stop_loss": stop_loss, "take_profit": take_profit}).items()
    }
    audit_record(
        actor=actor,
        owner=position.account.owner,
        action="position.exits_changed",
        summary=f"{position.symbol.symbol}: SL {stop_loss or '–'} TP {take_profit or '–'}",
        target=position,
        changes=changes,
    )
    push_account_changes(owner_id=position.account.owner_id, account_id=position.account_id, symbol_id=position.symbol_id)
    return position
