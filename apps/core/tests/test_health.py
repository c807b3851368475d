import subprocess
import time
from pathlib import Path

import pytest
from django.test import override_settings

from apps.market.heartbeat import Heartbeat, VenueBeat, heartbeat_write

pytestmark = [pytest.mark.django_db]


@pytest.mark.celery_worker
def test_health_is_200_when_database_redis_worker_migrations_and_the_stream_are_fine(client, celery_worker_process) -> None:
    now = time.time()
    heartbeat_write(Heartbeat(at=now, started=now - 60, venues={"SIM": VenueBeat(last_message=now, last_candle_stored=now - 10)}))

    response = client.get("/health/")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "redis", "celery", "migrations", "stream", "audit"}
    assert all(component["ok"] for component in body["components"].values())
    assert "test-worker-" in body["components"]["celery"]["detail"]


def _start_throwaway_redis(socket_path: Path) -> subprocess.Popen[bytes]:
    from apps.core.embedded.redis import _binary

    server = subprocess.Popen(
        [str(_binary()), "--port", "0", "--unixsocket", str(socket_path), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return server


def test_health_is_503_naming_redis_when_redis_goes_down(client, tmp_path) -> None:
    socket_path = tmp_path / "redis.sock"
    server = _start_throwaway_redis(socket_path)
    try:
        with override_settings(REDIS_CACHE_URL=f"unix://{socket_path}?db=0"):
            assert client.get("/health/").json()["components"]["redis"]["ok"] is True

            server.terminate()
            server.wait(timeout=5)
            response = client.get("/health/")
    finally:
        if server.poll() is None:
            server.kill()

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert "redis" in body["failing"]
    assert body["components"]["redis"]["ok"] is False
    assert body["components"]["database"]["ok"] is True


def test_health_reports_pending_migrations(client, monkeypatch) -> None:
    from apps.core import health

    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda self, targets: [("fake", False)])
    body = client.get("/health/").json()

    assert body["components"]["migrations"] == {"ok": False, "detail": "1 pending"}
    assert "migrations" in body["failing"]
