"""Which gateway serves which venue."""

from __future__ import annotations

from django.conf import settings

from apps.exchanges.errors import ExchangeErrorCode, NotSupportedError
from apps.exchanges.gateways.base import Credentials, ExchangeGateway

CCXT_VENUES = {"BINANCE", "BYBIT", "OKX"}


def gateway_for(code: str, credentials: Credentials | None = None) -> ExchangeGateway:
    """A new gateway for `code`; the caller closes it (`await gateway.close()`)."""
    if code == "SIM":
        from apps.exchanges.gateways.sim import SimGateway

        return SimGateway()
    if code in CCXT_VENUES:
        from apps.exchanges.gateways.ccxt_gateway import CcxtGateway

        return CcxtGateway(
            code,
            credentials,
            rest_base_url=settings.EXCHANGE_REST_BASE_URL or None,
            ws_base_url=settings.EXCHANGE_WS_BASE_URL or None,
        )
    raise NotSupportedError(f"No gateway for exchange {code!r}.", code=ExchangeErrorCode.UNKNOWN_EXCHANGE)
