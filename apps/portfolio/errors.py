from enum import StrEnum


class PortfolioErrorCode(StrEnum):
    ACCOUNT_EXISTS = "account_exists"
    CONNECTION_NOT_VERIFIED = "connection_not_verified"
    INVALID_BALANCE = "invalid_balance"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    POSITION_NOT_OPEN = "position_not_open"
