"""The OpenAPI schema matches the server: property-based requests over every operation (schemathesis).

A signed-in trader with a funded paper account and a filled order sends requests generated
from the schema /api/schema/ serves, valid ones and invalid ones. Every response must be
documented (status, headers, body schema, content type), no request may answer a 5xx, and a
request the schema calls valid must not be refused with a 400 or 422. Invalid requests are
not required to be refused: the server is lenient where it is harmless (a decimal sent as a
JSON number, "buy" for "BUY", exponent notation).

The number of examples per operation is bounded so the whole run stays within a few minutes
on two cores; `SCHEMATHESIS_MAX_EXAMPLES` raises it for a deeper run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.hooks import HookContext

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": int(os.environ.get("SCHEMATHESIS_SEED", "20261204")),
        # NUL characters are refused everywhere with a 400 (apps/core/request_limits.py); JSON
        # Schema has no way to say so on each string.
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "allow-x00": False, "database": "none"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "checks": {"negative_data_rejection": {"enabled": False}},  # see the lenient inputs above
    }
)


@pytest.fixture
def trader_headers(db: None) -> dict[str, str]:
    """A trader with something to read: a funded paper account and a filled order."""
    symbols = sim_markets()
    trader = UserFactory()
    account = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    order_submit(actor=trader, account=account, request=OrderRequest(symbol=symbols["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01")))
    return bearer(trader)


def _served_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves, as JSON (built without a request: no database is needed to collect the tests)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return cast(dict[str, Any], json.loads(OpenApiJsonRenderer().render(generated)))


schema = schemathesis.openapi.from_dict(_served_schema(), config=CONFIG)
schema.app = get_wsgi_application()


@schema.hook
def map_body(context: HookContext, body: Any) -> Any:
    """A key's expiry must lie ahead, which JSON Schema cannot say: a generated one becomes a year from now."""
    operation = context.operation
    if operation is not None and operation.path == "/api/v1/api-keys/" and isinstance(body, dict) and isinstance(body.get("expires_at"), str):
        return {**body, "expires_at": (timezone.now() + timedelta(days=365)).isoformat()}
    return body


# Query parameters that bound a range: the schema describes each, not their order.
RANGE_PARAMETERS = (("since", "until"), ("start", "end"))


@schema.hook
def map_query(context: HookContext, query: Any) -> Any:
    """A range's start comes before its end ("until must not be before since"): an inverted one is put in order."""
    if not isinstance(query, dict):
        return query
    for first, last in RANGE_PARAMETERS:
        low, high = _moment(query.get(first)), _moment(query.get(last))
        if low is not None and high is not None and high < low:
            query = {**query, first: query[last], last: query[first]}
    return query


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection(db: None) -> Iterator[None]:
    """Requests run in this thread on the test's transaction: as Django's test client does, they
    leave the database connection open (Django closes it after each request otherwise)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the trader and the transaction are shared by an operation's examples
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case, trader_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=trader_headers)
