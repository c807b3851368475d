import json
import logging

import pytest
from django.test import override_settings

from apps.accounts.tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id_and_a_valid_incoming_one_is_kept(client) -> None:
    generated = client.get("/accounts/login/")
    assert len(generated["X-Request-ID"]) >= 16

    kept = client.get("/accounts/login/", HTTP_X_REQUEST_ID="trace-abc-12345")
    assert kept["X-Request-ID"] == "trace-abc-12345"

    replaced = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert replaced["X-Request-ID"] != "bad id with spaces"


def test_json_log_lines_carry_the_request_id() -> None:
    from pythonjsonlogger.json import JsonFormatter

    from apps.core.logging import RequestIdFilter, current_request_id

    record = logging.LogRecord("orders", logging.INFO, __file__, 1, "order placed", None, None)
    token = current_request_id.set("req-1234567890")
    try:
        RequestIdFilter().filter(record)
    finally:
        current_request_id.reset(token)
    line = json.loads(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s").format(record))

    assert line["request_id"] == "req-1234567890"
    assert line["message"] == "order placed"


def test_metrics_are_refused_to_anonymous_and_ordinary_users(client) -> None:
    assert client.get("/metrics").status_code == 403
    client.force_login(UserFactory())
    assert client.get("/metrics").status_code == 403


def test_metrics_are_served_to_staff(client) -> None:
    client.force_login(StaffUserFactory())
    client.get("/accounts/settings/")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"tp_http_requests_total" in response.content


@override_settings(METRICS_TOKEN="s3cret-token-value")
def test_metrics_are_served_with_the_bearer_token(client) -> None:
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-value").status_code == 200
