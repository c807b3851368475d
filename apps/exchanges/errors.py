"""Exchange errors in the platform's tree; the ccxt gateway maps ccxt's errors onto these."""

from __future__ import annotations

from enum import StrEnum

from apps.core.errors import (
    ApplicationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationError,
)


class ExchangeErrorCode(StrEnum):
    UNKNOWN_EXCHANGE = "unknown_exchange"
    UNKNOWN_SYMBOL = "unknown_symbol"
    UNSUPPORTED_TIMEFRAME = "unsupported_timeframe"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    RATE_LIMITED = "exchange_rate_limited"
    AUTHENTICATION_FAILED = "exchange_authentication_failed"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"
    ORDER_NOT_FOUND = "order_not_found"
    NOT_SUPPORTED = "not_supported"
    EXCHANGE_ERROR = "exchange_error"


class ExchangeError(ApplicationError):
    status_code = 502
    default_code = ExchangeErrorCode.EXCHANGE_ERROR


class ExchangeUnavailableError(ServiceUnavailableError):
    """Network trouble, timeouts, maintenance: worth retrying later."""

    default_code = ExchangeErrorCode.EXCHANGE_UNAVAILABLE


class ExchangeRateLimitedError(RateLimitedError):
    default_code = ExchangeErrorCode.RATE_LIMITED


class ExchangeAuthenticationError(PermissionDeniedError):
    default_code = ExchangeErrorCode.AUTHENTICATION_FAILED


class InsufficientFundsError(ValidationError):
    default_code = ExchangeErrorCode.INSUFFICIENT_FUNDS


class InvalidOrderError(ValidationError):
    default_code = ExchangeErrorCode.INVALID_ORDER


class OrderNotFoundError(NotFoundError):
    default_code = ExchangeErrorCode.ORDER_NOT_FOUND


class UnknownSymbolError(NotFoundError):
    default_code = ExchangeErrorCode.UNKNOWN_SYMBOL


class NotSupportedError(ValidationError):
    default_code = ExchangeErrorCode.NOT_SUPPORTED


RETRYABLE_ERRORS: tuple[type[ApplicationError], ...] = (ExchangeUnavailableError, ExchangeRateLimitedError)
