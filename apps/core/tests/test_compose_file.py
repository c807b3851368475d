"""The compose file brings every service back on its own: a restart policy and a health check for each."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "docker" / "compose.yml"
ENTRYPOINT = COMPOSE.parent / "entrypoint.sh"


def _services() -> dict[str, dict[str, object]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_every_service_restarts_and_has_a_health_check() -> None:
    services = _services()

    assert {"postgres", "redis", "web", "ws", "worker", "beat", "stream", "flower", "proxy"} <= set(services)
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck"), name


def test_the_market_stream_runs_in_compose_as_the_system_role() -> None:
    stream = _services()["stream"]

    assert stream["command"] == ["stream"]
    assert "tp_system" in str(stream["environment"]["DATABASE_URL"])  # type: ignore[index]
    assert "stream)" in ENTRYPOINT.read_text()
