"""The address of the client behind a request.

`X-Forwarded-For` is a list that each proxy appends the address it was connected from
to; anything left of what our own proxies wrote was written by the client and can be
anything. So the header is read only when TRUSTED_PROXY_COUNT proxies stand in front of
the server, and then the entry that the outermost of them wrote is the client.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104  (a placeholder, never bound)


def _valid_address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def address_from(*, remote_addr: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The client address from the connection's peer and the X-Forwarded-For header."""
    if trusted_proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            chosen = _valid_address(hops[-min(trusted_proxies, len(hops))])
            if chosen is not None:
                return chosen
    return _valid_address(remote_addr or "") or UNKNOWN_ADDRESS


def client_address(request: HttpRequest) -> str:
    return address_from(
        remote_addr=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        trusted_proxies=settings.TRUSTED_PROXY_COUNT,
    )
