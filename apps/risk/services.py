from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from apps.audit.services import audit_record, diff_fields
from apps.core.errors import ValidationError
from apps.core.rows import rows_select
from apps.risk.models import RiskLimits

LIMIT_FIELDS = ("max_order_notional", "max_position_notional", "max_leverage", "max_open_positions", "max_daily_loss")


def risk_limits_get(*, actor: Any) -> RiskLimits:
    found = rows_select(RiskLimits, where={"owner_id": actor.pk})  # read for every order: no ORM compile
    if found:
        return found[0]
    limits, _ = RiskLimits.objects.get_or_create(owner=actor)
    return limits


@transaction.atomic
def risk_limits_update(*, actor: Any, **values: Any) -> RiskLimits:
    unknown = set(values) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown risk limit(s): {', '.join(sorted(unknown))}.")
    for name, value in values.items():
        if value is None:
            continue
        if name in ("max_leverage", "max_open_positions"):
            if int(value) < 1 or (name == "max_leverage" and int(value) > 125):
                raise ValidationError.for_field(name, f"{name} must be between 1 and {125 if name == 'max_leverage' else 'any'}.")
        elif Decimal(value) <= 0:
            raise ValidationError.for_field(name, f"{name} must be positive (leave it empty for no limit).")
    limits, _ = RiskLimits.objects.select_for_update().get_or_create(owner=actor)
    before = {name: getattr(limits, name) for name in LIMIT_FIELDS}
    for name, value in values.items():
        setattr(limits, name, value)
    limits.save()
    after = {name: getattr(limits, name) for name in LIMIT_FIELDS}
    changes = {k: [str(v[0]) if v[0] is not None else None, str(v[1]) if v[1] is not None else None] for k, v in diff_fields(before, after).items()}
    if changes:
        audit_record(actor=actor, action="risk_limits.changed", summary="Risk limits changed", target=limits, changes=changes)
    return limits
