"""deploy/: the compose file and the Grafana dashboard say only what the code knows (no docker here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY
from pydantic import AliasChoices

import activities.metrics
import activities.send
import api.events
import api.relay
from channels.config import ChannelsConfig
from config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
OURS = re.compile(r"^(NUDGEFLOW_|TEMPORAL_|DATABASE_URL$)")
# Temporal's Core SDK metrics the dashboard reads (PrometheusConfig(counters_total_suffix=True)).
SDK_METRICS = {
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_worker_task_slots_available",
    "temporal_sticky_cache_size",
    "temporal_sticky_cache_total_forced_eviction_total",
    "temporal_workflow_task_execution_failed_total",
}


def known_variables() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
    names.update(f"NUDGEFLOW_{name.upper()}" for name in ChannelsConfig.model_fields)
    return names


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_temporal_on_postgres_its_ui_the_migrations_once_the_api_and_workers() -> None:
    services = compose()["services"]
    assert {"postgres", "temporal", "temporal-ui", "migrate", "api", "worker"} <= set(services)
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgres"
    assert services["migrate"]["command"] == ["python", "cli.py", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    drain = float(services["worker"]["environment"]["NUDGEFLOW_WORKER_DRAIN_TIMEOUT"])
    assert float(services["worker"]["stop_grace_period"].rstrip("s")) > drain, "SIGKILL before the drain ends"
    assert (DEPLOY / "Dockerfile").is_file()


def test_every_variable_compose_sets_for_nudgeflow_is_one_its_configuration_reads() -> None:
    known = known_variables()
    ours = {name: service for name, service in compose()["services"].items() if "build" in service}
    assert set(ours) == {"migrate", "api", "worker"}
    for name, service in ours.items():
        unknown = sorted(v for v in service["environment"] if OURS.match(v) and v not in known)
        assert unknown == [], f"{name} sets variables config.py does not read"
        assert service["environment"]["NUDGEFLOW_ENV"] == "production"


def test_the_grafana_dashboard_reads_only_metrics_that_exist() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "nudgeflow.json").read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert len(exprs) >= 15
    used = {name for expr in exprs for name in re.findall(r"\b((?:nudgeflow|temporal)_[a-z_]+)", expr)}
    ours = {name for name in used if name.startswith("nudgeflow_")}
    registered = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    # A labelled metric shows no sample until a label set is used: its family name counts too.
    families = {metric.name for metric in REGISTRY.collect()}
    assert activities.metrics.DELIVERIES and activities.metrics.UNKNOWN_OUTCOMES
    assert api.events.EVENTS and api.relay.BACKLOG
    missing = sorted(
        name
        for name in ours
        if name not in registered and re.sub(r"_(total|bucket|count|sum)$", "", name) not in families
    )
    assert missing == []
    assert used - ours <= SDK_METRICS
    assert {"nudgeflow_deliveries_total", "nudgeflow_reminder_lateness_seconds_bucket"} <= used
    assert {"nudgeflow_relay_backlog", "nudgeflow_relay_dead_letters_total"} <= used
