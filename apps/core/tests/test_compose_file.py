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


def test_the_compose_layout_runs_workers_apart_by_queue_one_beat_and_one_stream_per_shard() -> None:
    from apps.market.sharding import shard_parse

    services = _services()
    queues = {name: str(s["environment"]["WORKER_QUEUES"]) for name, s in services.items() if s.get("command") == ["worker"]}  # type: ignore[index]
    assert {"bots", "backtests", "alerts"} <= set(queues.values())
    assert sorted(q for value in queues.values() for q in value.split(",")) == sorted(["default", "market", "bots", "backtests", "alerts"])
    assert [name for name, s in services.items() if s.get("command") == ["beat"]] == ["beat"]
    shards = [shard_parse(str(s["environment"]["STREAM_SHARD"])) for s in services.values() if s.get("command") == ["stream"]]  # type: ignore[index]
    assert sorted(shard.number for shard in shards) == list(range(1, len(shards) + 1)) and {shard.count for shard in shards} == {len(shards)}
    assert "WORKER_QUEUES:-" in ENTRYPOINT.read_text() and '--shard "${STREAM_SHARD:-1/1}"' in ENTRYPOINT.read_text()
