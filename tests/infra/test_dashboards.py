"""The dashboards: every panel's query parses under promtool, reads only its stack's series and
known metrics, the JSON is a well-formed Grafana model, and the ConfigMaps the sidecar loads
exist exactly when ``monitoring.enabled`` is on.

Each query is written as a recording rule (``$__rate_interval`` replaced by a duration, since
it is Grafana's, not PromQL's) and checked with ``promtool check rules``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.dashboards import (
    GRID_WIDTH,
    RATE_INTERVAL,
    SIDECAR_LABEL,
    UID_LENGTH,
    Dashboards,
    DashboardsArgs,
    dashboards,
)
from infra.exporter_metrics import exporter_metrics
from stacks.render import Rendered
from tests.infra.manifests import REPO, Manifest, of_kind, render
from tests.infra.mock_run import of_type, run
from tests.infra.promtool import run_promtool, write_yaml

NS = "todo-app"
CHECKED_RATE = "5m"
"""What ``$__rate_interval`` becomes for promtool: any valid range parses alike."""
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NAMES = ["todo-dashboard-api", "todo-dashboard-data-services", "todo-dashboard-pipeline"]


def _recording_rules(namespace: str, rate: str) -> dict[str, Any]:
    """Every panel query of every dashboard as one recording rule, named for where it sits."""
    rules = [
        {
            "record": f"todo_dashboard:{d.slug.replace('-', '_')}:{panel['id']}_{t['refId']}",
            "expr": t["expr"].replace(RATE_INTERVAL, rate),
        }
        for d in dashboards(namespace)
        for panel in d.model(namespace)["panels"]
        for t in panel["targets"]
    ]
    return {"groups": [{"name": "todo-dashboards", "rules": rules}]}


def _sidecar_maps(manifests: list[Manifest]) -> list[Manifest]:
    return [
        m
        for m in of_kind(manifests, "ConfigMap")
        if m["metadata"].get("labels", {}).get(SIDECAR_LABEL) == "1"
    ]


def test_every_panel_query_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    document = _recording_rules(NS, CHECKED_RATE)
    count = len(document["groups"][0]["rules"])
    write_yaml(tmp_path / "rules.yml", document)
    code, output = run_promtool(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert code == 0, output
    assert f"SUCCESS: {count} rules found" in output


def test_promtool_refuses_a_query_left_with_grafanas_variable(
    promtool: str, tmp_path: Path
) -> None:
    """The check can fail: unsubstituted, ``$__rate_interval`` is not PromQL."""
    write_yaml(tmp_path / "rules.yml", _recording_rules(NS, RATE_INTERVAL))
    code, output = run_promtool(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert code != 0
    assert "could not parse expression" in output


def test_every_selector_is_scoped_to_the_stacks_namespace() -> None:
    for dashboard in dashboards(NS):
        for panel in dashboard.panels:
            for query in panel.queries:
                assert query.expr.count("{") == query.expr.count(f'{{namespace="{NS}"'), panel.title


def test_every_metric_is_the_services_or_a_listed_exporters() -> None:
    listed = set(exporter_metrics())
    for dashboard in dashboards(NS):
        for panel in dashboard.panels:
            assert panel.metrics, panel.title
            unknown = {m for m in panel.metrics if not m.startswith("todo_")} - listed
            assert unknown == set(), panel.title


def test_the_three_dashboards_cover_the_api_the_pipeline_and_the_data_services() -> None:
    by_slug = {d.slug: d.metrics for d in dashboards(NS)}
    assert sorted(by_slug) == ["api", "data-services", "pipeline"]
    assert "todo_http_request_duration_seconds_bucket" in by_slug["api"]
    assert {"todo_outbox_backlog", "kafka_consumergroup_lag"} <= by_slug["pipeline"]
    assert {"pg_up", "redis_up", "kafka_topic_partitions"} <= by_slug["data-services"]


def test_panels_have_unique_ids_and_tile_the_grid_without_overlap() -> None:
    for dashboard in dashboards(NS):
        panels = dashboard.model(NS)["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1)), dashboard.slug
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids), panel["title"]


def test_every_query_reads_the_datasource_variable() -> None:
    for dashboard in dashboards(NS):
        model = dashboard.model(NS)
        (variable,) = model["templating"]["list"]
        assert (variable["name"], variable["type"], variable["query"]) == (
            "datasource",
            "datasource",
            "prometheus",
        )
        for panel in model["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_uids_are_unique_per_stack_and_within_grafanas_limit() -> None:
    long_ns = "a-namespace-name-long-enough-to-need-cutting-down"
    uids = [d.model(ns)["uid"] for ns in (NS, "todo-app-staging", long_ns) for d in dashboards(ns)]
    assert len(set(uids)) == len(uids)
    assert max(len(uid) for uid in uids) <= UID_LENGTH


def test_every_panel_is_documented() -> None:
    guide = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    for dashboard in dashboards(NS):
        for panel in dashboard.panels:
            assert f"| {panel.title} |" in guide, f"{dashboard.slug}: {panel.title}"


def test_each_dashboard_is_a_labelled_config_map_of_its_json() -> None:
    resources = run(lambda: Dashboards("dash", DashboardsArgs(namespace=NS, instance="todo")))
    maps = {r.inputs["metadata"]["name"]: r.inputs for r in of_type(resources, CONFIG_MAP)}
    assert sorted(maps) == NAMES
    for dashboard in dashboards(NS):
        config_map = maps[f"todo-dashboard-{dashboard.slug}"]
        assert config_map["metadata"]["namespace"] == NS
        assert config_map["metadata"]["labels"][SIDECAR_LABEL] == "1"
        (document,) = config_map["data"].values()
        assert json.loads(document) == dashboard.model(NS)


@pytest.fixture(scope="module")
def prod_monitored() -> Rendered:
    return render("prod", monitoring={"enabled": True})


def test_the_stack_ships_its_dashboards_with_monitoring(prod_monitored: Rendered) -> None:
    maps = _sidecar_maps(prod_monitored.manifests())
    assert sorted(m["metadata"]["name"] for m in maps) == NAMES
    for config_map in maps:
        assert config_map["metadata"]["namespace"] == NS
        (document,) = config_map["data"].values()
        assert json.loads(document)["tags"] == ["todo", NS]


def test_no_dashboards_without_monitoring(stacks: dict[str, Rendered]) -> None:
    for stack, rendered in stacks.items():
        assert _sidecar_maps(rendered.manifests()) == [], stack
