from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from apps.core.client_address import address_from, client_address


@pytest.mark.parametrize(
    ("forwarded_for", "trusted", "expected"),
    [
        ("6.6.6.6", 0, "10.0.0.2"),  # no proxy trusted: the header is the client's to forge
        ("6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),  # one proxy appended the real peer
        ("6.6.6.6, 198.51.100.7, 10.0.0.9", 2, "198.51.100.7"),  # two proxies
        ("198.51.100.7", 3, "198.51.100.7"),  # fewer hops than proxies: the leftmost
        ("not-an-ip", 1, "10.0.0.2"),  # garbage falls back to the connection
        ("", 1, "10.0.0.2"),
    ],
)
def test_x_forwarded_for_is_read_only_behind_trusted_proxies(forwarded_for: str, trusted: int, expected: str) -> None:
    assert address_from(remote_addr="10.0.0.2", forwarded_for=forwarded_for, trusted_proxies=trusted) == expected


def test_a_request_without_trusted_proxies_uses_the_connection() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="6.6.6.6")

    assert client_address(request) == "192.0.2.1"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_request_behind_one_trusted_proxy_uses_the_address_it_appended() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.1")

    assert client_address(request) == "192.0.2.1"
