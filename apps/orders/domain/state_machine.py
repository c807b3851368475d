"""The order lifecycle as an explicit transition table.

Every status change goes through `transition(current, target)`; anything not in
`ALLOWED_TRANSITIONS` raises `InvalidOrderTransition`. The database mirrors the set of
statuses (`ORDER_STATUS_VALUES`) in a check constraint; the table itself lives here.

    NEW ──► OPEN ──► PARTIALLY_FILLED ──► FILLED
     │        │        │  ▲  │
     │        │        └──┘  └──► CANCELED / EXPIRED
     │        └──► FILLED / CANCELED / EXPIRED
     └──► PARTIALLY_FILLED / FILLED / REJECTED / CANCELED / EXPIRED

Why these and no others:
- NEW is "sent, not yet acknowledged as resting". An order can fill (wholly or in part)
  on arrival without ever resting, so NEW goes straight to PARTIALLY_FILLED or FILLED;
  an IOC/market order partly filled and then expired is NEW -> PARTIALLY_FILLED -> EXPIRED,
  an unfilled FOK is NEW -> EXPIRED.
- Only NEW can be REJECTED: once the venue has accepted an order, its later ends are
  fills, cancels or expiries. A triggered stop or a post-only order that would cross is
  mapped by the gateways to EXPIRED (Binance reports it that way).
- PARTIALLY_FILLED -> PARTIALLY_FILLED records one more partial fill. No other status
  loops to itself: repeating the current status is not a transition.
- Terminal statuses (FILLED, CANCELED, REJECTED, EXPIRED) have no way out. CANCELED is
  set on the venue's confirmation, never on the request, so a late fill cannot arrive
  after it; reconciliation that finds otherwise must raise, not rewrite history.
"""

from __future__ import annotations

from apps.core.errors import ConflictError
from apps.orders.domain.model import OrderStatus

NEW = OrderStatus.NEW
OPEN = OrderStatus.OPEN
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
REJECTED = OrderStatus.REJECTED
EXPIRED = OrderStatus.EXPIRED

ALLOWED_TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        (NEW, OPEN),
        (NEW, PARTIALLY_FILLED),
        (NEW, FILLED),
        (NEW, REJECTED),
        (NEW, CANCELED),
        (NEW, EXPIRED),
        (OPEN, PARTIALLY_FILLED),
        (OPEN, FILLED),
        (OPEN, CANCELED),
        (OPEN, EXPIRED),
        (PARTIALLY_FILLED, PARTIALLY_FILLED),
        (PARTIALLY_FILLED, FILLED),
        (PARTIALLY_FILLED, CANCELED),
        (PARTIALLY_FILLED, EXPIRED),
    }
)

TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(status for status in OrderStatus if status.is_terminal)

# For the database check constraint: `status IN (...)`.
ORDER_STATUS_VALUES: tuple[str, ...] = tuple(status.value for status in OrderStatus)


class InvalidOrderTransition(ConflictError):
    """An order was asked to move between two statuses the lifecycle does not connect."""

    default_code = "invalid_order_transition"

    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        self.current = current
        self.target = target
        super().__init__(
            f"An order cannot go from {current} to {target}.",
            extra={"current": str(current), "target": str(target)},
        )


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return (OrderStatus(current), OrderStatus(target)) in ALLOWED_TRANSITIONS


def next_statuses(current: OrderStatus) -> frozenset[OrderStatus]:
    """Every status `current` may move to (empty for terminal statuses)."""
    current = OrderStatus(current)
    return frozenset(target for source, target in ALLOWED_TRANSITIONS if source is current)


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return `target` if the lifecycle allows `current -> target`, else raise `InvalidOrderTransition`.

    Plain strings equal to a status value (as read from the database) are accepted;
    an unknown value raises `ValueError`.
    """
    current, target = OrderStatus(current), OrderStatus(target)
    if (current, target) not in ALLOWED_TRANSITIONS:
        raise InvalidOrderTransition(current, target)
    return target
