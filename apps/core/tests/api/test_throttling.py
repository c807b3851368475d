from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.settings import api_settings

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.core.api import throttling
from apps.core.api.throttling import count_in_window

pytestmark = pytest.mark.django_db

ME_URL = reverse("api-me")


@pytest.fixture
def three_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttling.UserRateThrottle, "THROTTLE_RATES", {**api_settings.DEFAULT_THROTTLE_RATES, "user": "3/min"})


def test_a_user_over_the_rate_gets_429_with_retry_after_and_the_error_body(client: Client, three_a_minute: None) -> None:
    user = UserFactory()
    statuses = [client.get(ME_URL, headers=bearer(user)).status_code for _ in range(3)]
    refused = client.get(ME_URL, headers=bearer(user))

    if statuses != [200, 200, 200]:  # a minute boundary fell inside the loop: the next window counts afresh
        pytest.skip("the minute turned during the test")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert refused.json()["code"] == "rate_limited"


def test_each_user_has_an_allowance_of_their_own(client: Client, three_a_minute: None) -> None:
    ada, bob = UserFactory(), UserFactory()
    for _ in range(3):
        client.get(ME_URL, headers=bearer(ada))

    assert client.get(ME_URL, headers=bearer(ada)).status_code == 429
    assert client.get(ME_URL, headers=bearer(bob)).status_code == 200


def test_the_counter_starts_again_in_the_next_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttling.time, "time", lambda: 6_000_010.0)
    assert count_in_window("window-test", 60) == (1, 50.0)
    assert count_in_window("window-test", 60)[0] == 2

    monkeypatch.setattr(throttling.time, "time", lambda: 6_000_060.0)
    assert count_in_window("window-test", 60) == (1, 60.0)
