"""One error tree for the whole platform.

Services raise `ApplicationError` subclasses; the DRF handler turns them into
`{"code", "message", "extra"}` and HTMX views into form errors.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class CoreErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_DEEP = "too_deeply_nested"


class ApplicationError(Exception):
    status_code = 400
    default_code: str = CoreErrorCode.INVALID

    def __init__(self, message: str, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code or self.default_code)
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class ValidationError(ApplicationError):
    status_code = 400
    default_code: str = CoreErrorCode.INVALID

    @classmethod
    def for_field(cls, field: str, message: str, code: str | None = None) -> ValidationError:
        return cls(message, code=code, extra={"fields": {field: [message]}})


class NotFoundError(ApplicationError):
    status_code = 404
    default_code: str = CoreErrorCode.NOT_FOUND


class PermissionDeniedError(ApplicationError):
    status_code = 403
    default_code: str = CoreErrorCode.PERMISSION_DENIED


class ConflictError(ApplicationError):
    status_code = 409
    default_code: str = CoreErrorCode.CONFLICT


class RateLimitedError(ApplicationError):
    status_code = 429
    default_code: str = CoreErrorCode.RATE_LIMITED


class PayloadTooLargeError(ApplicationError):
    status_code = 413
    default_code: str = CoreErrorCode.PAYLOAD_TOO_LARGE


class ServiceUnavailableError(ApplicationError):
    status_code = 503
    default_code: str = CoreErrorCode.UNAVAILABLE
