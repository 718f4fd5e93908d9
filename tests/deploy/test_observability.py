"""deploy/: the Grafana dashboard, the KEDA ScaledObject and the Prometheus example use only metrics the
code exports, and scrape the ports compose sets (no Prometheus, Grafana or Kubernetes needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import yaml
from prometheus_client import REGISTRY
from prometheus_client.core import Metric

import api.metrics
import webhooks.metrics
import worker.metrics
from core.cluster_metrics import ClusterCollector
from tests.deploy.infra import REPO, compose

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def sample_names(families: Iterable[Metric]) -> set[str]:
    return {f.name + suffix for f in families if f.name.startswith("endoscribe_") for suffix in SUFFIXES[f.type]}


def exported() -> set[str]:
    """Every sample name the API, the cluster collector, the workers and the deliverer can export."""
    assert api.metrics and webhooks.metrics  # imported for the metrics they register
    described = [*ClusterCollector(client=None).describe(),  # type: ignore[arg-type]  # describe never calls Redis
                 *worker.metrics.GpuMemoryCollector().describe()]
    return sample_names(REGISTRY.collect()) | sample_names(described)


def used(expressions: Iterable[str]) -> set[str]:
    return {name for expr in expressions for name in re.findall(r"\bendoscribe_[a-z_]+", expr)}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "deploy/grafana/endoscribe.json").read_text())
    return data


def test_the_dashboard_graphs_only_exported_metrics_and_covers_each_area() -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    expressions = [t["expr"] for p in panels for t in p["targets"]]
    assert used(expressions) <= exported(), used(expressions) - exported()
    for area in ("endoscribe_http_", "endoscribe_queue_", "endoscribe_job_", "endoscribe_jobs_ended",
                 "endoscribe_worker_batch", "endoscribe_worker_gpu", "endoscribe_worker_oom", "endoscribe_webhook_"):
        assert any(area in e for e in expressions), f"no panel for {area}"


def test_the_dashboard_imports_into_any_grafana() -> None:
    board = dashboard()
    # The Prometheus data source is chosen at import, not hard-wired to one installation's uid.
    assert [v["type"] for v in board["templating"]["list"]] == ["datasource"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["datasource"]["uid"] == "${datasource}" for p in panels if p["type"] != "row")


def test_keda_scales_workers_on_open_jobs_collapsed_across_api_replicas() -> None:
    scaled = yaml.safe_load((REPO / "deploy/keda/worker-scaledobject.yaml").read_text())
    assert (scaled["apiVersion"], scaled["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    query = trigger["metadata"]["query"]
    assert used([query]) == {"endoscribe_jobs_open"} and query.startswith("max(")


def test_the_prometheus_example_scrapes_the_ports_compose_opens() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose()["services"]
    assert jobs["endoscribe-api"]["authorization"]["type"] == "Bearer"
    assert jobs["endoscribe-api"]["static_configs"][0]["targets"] == ["api:8000"]
    for job, service in (("endoscribe-workers", "worker"), ("endoscribe-webhooks", "webhooks")):
        port = services[service]["environment"]["ENDOSCRIBE_METRICS_PORT"]
        assert jobs[job]["static_configs"][0]["targets"] == [f"{service}:{port}"]
        assert services[service]["environment"]["ENDOSCRIBE_METRICS_HOST"] == "0.0.0.0"
        assert "ports" not in services[service], "metrics ports stay on the compose network"
