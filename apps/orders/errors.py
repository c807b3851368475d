from __future__ import annotations

from enum import StrEnum

from apps.core.errors import ConflictError, PermissionDeniedError, ValidationError


class OrderErrorCode(StrEnum):
    INSUFFICIENT_BALANCE = "insufficient_balance"
    RISK_REJECTED = "risk_rejected"
    REDUCE_ONLY = "reduce_only_violation"
    NOT_CANCELABLE = "order_not_cancelable"
    LIVE_NOT_READY = "live_account_not_ready"
    NO_PRICE = "no_market_price"
    POSITION_NOT_OPEN = "position_not_open"


class InsufficientBalanceError(ValidationError):
    default_code = OrderErrorCode.INSUFFICIENT_BALANCE


class RiskRejectedError(PermissionDeniedError):
    status_code = 422
    default_code = OrderErrorCode.RISK_REJECTED


class OrderNotCancelableError(ConflictError):
    default_code = OrderErrorCode.NOT_CANCELABLE
