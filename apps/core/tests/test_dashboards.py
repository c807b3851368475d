"""The Grafana dashboards ask only for metrics the platform exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from apps.core.metrics import exported_metric_names

DOCKER = Path(settings.BASE_DIR) / "docker"
DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
METRIC_NAME = re.compile(r"\btp_[a-z0-9_]+")


def _queries(dashboard: dict[str, object]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]  # type: ignore[attr-defined,index]


def test_the_four_dashboards_are_there() -> None:
    titles = {json.loads(path.read_text())["title"] for path in DASHBOARDS}

    assert titles == {
        "Trading platform: system health",
        "Trading platform: API performance",
        "Trading platform: trading and bots",
        "Trading platform: exchange connectivity",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_names_only_exported_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    exported = exported_metric_names()

    queries = _queries(dashboard)
    named = {name for query in queries for name in METRIC_NAME.findall(query)}

    assert queries and named
    assert named - exported == set()


def test_every_panel_reads_the_provisioned_prometheus() -> None:
    datasources = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasources["datasources"][0]["uid"]

    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == uid, (path.name, panel["title"])


def test_prometheus_scrapes_the_web_metrics_with_the_token() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    web = next(job for job in config["scrape_configs"] if job["job_name"] == "web")

    assert web["metrics_path"] == "/metrics"
    assert web["authorization"]["type"] == "Bearer"
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    assert {"prometheus", "grafana"} <= set(compose["services"])
