"""A PostgreSQL or Redis outage answers 503 saying what is down, never a 500; throttles fail safe without Redis.

The outages are real: Django's own database connection is terminated by the server, and
Redis is asked for on a port nothing listens on.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test import Client

from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.accounts.tests.helpers import bearer
from apps.market import live
from apps.orders.tests.factories import sim_markets


def _dead_redis_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # closed again: connections are refused


@pytest.fixture
def redis_down(settings, monkeypatch) -> Iterator[None]:
    settings.REDIS_CACHE_URL = _dead_redis_url()
    monkeypatch.setattr(live, "_client", None)  # the live store opens its client again, on the dead URL
    yield


def _database_connection_killed() -> None:
    """The server ends this thread's connection, as a PostgreSQL restart would."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])


def _assert_outage_body(response, component: str) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["code"] == "unavailable"
    assert body["extra"]["component"] == component
    assert body["extra"]["retry_after_seconds"] == 5


@pytest.mark.django_db(transaction=True)
def test_an_api_request_on_a_lost_database_connection_is_a_503_with_retry_after() -> None:
    user = UserFactory()
    headers = bearer(user)
    _database_connection_killed()

    response = Client().get("/api/v1/orders/", headers=headers)

    _assert_outage_body(response, "database")
    connection.close()
    assert Client().get("/api/v1/orders/", headers=headers).status_code == 200  # the next request connects again


@pytest.mark.django_db(transaction=True)
def test_a_page_on_a_lost_database_connection_is_a_503_page_saying_the_database_is_down() -> None:
    user = UserFactory()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    _database_connection_killed()

    response = client.get("/orders/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"The database (PostgreSQL) is not answering" in response.content
    connection.close()


@pytest.mark.django_db
def test_without_redis_the_api_throttle_lets_requests_through(redis_down) -> None:
    user = UserFactory()

    response = Client().get("/api/v1/orders/", headers=bearer(user))

    assert response.status_code == 200


@pytest.mark.django_db
def test_an_api_call_that_needs_redis_while_it_is_down_is_a_503_naming_redis(redis_down) -> None:
    sim_markets()
    user = UserFactory()

    response = Client().get("/api/v1/tickers/", {"exchange": "SIM"}, headers=bearer(user))

    _assert_outage_body(response, "redis")


@pytest.mark.django_db
def test_without_redis_sign_in_works_and_failures_are_still_counted_in_the_process(redis_down, settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    user = UserFactory()
    client = Client()

    signed_in = client.post("/api/v1/auth/token/", {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json")
    failures = [client.post("/api/v1/auth/token/", {"email": user.email, "password": "wrong-password-1"}, content_type="application/json") for _ in range(3)]
    locked = client.post("/api/v1/auth/token/", {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json")

    assert signed_in.status_code == 200, signed_in.content
    assert [r.status_code for r in failures] == [401, 401, 401]
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


def test_an_error_the_code_chose_is_not_mistaken_for_an_outage() -> None:
    from django.db import OperationalError

    from apps.core.errors import ConflictError
    from apps.core.outage import outage_component

    def translated() -> None:
        try:
            raise OperationalError("could not obtain lock on row")
        except OperationalError:
            raise ConflictError("The order is being changed; try again.") from None

    with pytest.raises(ConflictError) as caught:
        translated()

    assert outage_component(caught.value) is None
    assert outage_component(RuntimeError("wrapped")) is None
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = OperationalError("server closed the connection unexpectedly")
    assert outage_component(wrapped) == "database"


@pytest.mark.django_db
def test_a_page_that_needs_redis_while_it_is_down_is_a_503_page_naming_redis(redis_down) -> None:
    sim_markets()
    client = Client()
    client.force_login(UserFactory())

    response = client.get("/market/SIM/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"The cache and message broker (Redis) is not answering" in response.content
