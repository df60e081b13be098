"""The Grafana dashboards the grafana role provisions (roles/grafana/files/dashboards/*.json).

Each file is a dashboard JSON model Grafana can load (uid, title, schemaVersion, panels with a
gridPos and targets), every data source is the role's provisioned Prometheus (uid
``orchestrator-prometheus``), every query parses as PromQL for the real ``promtool check rules``
(Grafana's variables replaced by plain values first), and every metric name is one the
collection's exporters or the scraped services export (the table and tokenizer the alert rules
are checked with, tests/unit/roles/metric_names.py). The node exporter's and the Marathon
double's names are also asked of the real programs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.grafana_dashboards import (
    DASHBOARDS,
    all_panels,
    dashboards,
    queries,
    substitute,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.processes import serving
from ansible_collections.orchestrator.platform.tests.unit.roles.metric_names import (
    DASHBOARD_UPSTREAM,
    METRICS_DOC,
    UPSTREAM,
    documented_names,
    exposition_names,
    marathon_double_exposition,
    metric_names,
)

REPO = Path(__file__).resolve().parents[3]
DATASOURCE_UID = "orchestrator-prometheus"
PROMTOOL = "/usr/bin/promtool"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
EXPECTED = {"overview.json", "zookeeper.json", "mesos.json", "marathon.json", "hosts.json"}


def promtool_check(items: list[tuple[str, str]], tmp_path: Path) -> list[str]:
    """promtool's complaints about ``items`` (where, expression), each as a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query:{index}", "expr": substitute(expr)}
                    for index, (_where, expr) in enumerate(items)
                ],
            }
        ]
    }
    path = tmp_path / f"dashboard-queries-{len(items)}.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    run = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if run.returncode == 0:
        return []
    if len(items) > 1:
        # Name each culprit: check the expressions one by one.
        return [problem for item in items for problem in promtool_check([item], tmp_path)]
    where, expr = items[0]
    return [f"{where}: {expr!r}: {(run.stdout + run.stderr).strip()}"]


def test_the_five_dashboards_are_there_and_valid_json() -> None:
    assert {p.name for p in DASHBOARDS.glob("*.json")} == EXPECTED
    for name, board in dashboards().items():
        assert isinstance(board, dict), name
        assert board.get("schemaVersion", 0) >= 36, name
        assert isinstance(board.get("panels"), list) and board["panels"], name
        assert board.get("id") is None, f"{name}: a provisioned dashboard carries no database id"


def test_uids_and_titles_are_unique_and_stable() -> None:
    boards = dashboards().values()
    uids = [b.get("uid") for b in boards]
    titles = [b.get("title") for b in boards]
    assert all(isinstance(u, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", u) for u in uids), uids
    assert all(isinstance(t, str) and t for t in titles), titles
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles


def test_every_panel_has_a_grid_position_and_targets_with_ref_ids() -> None:
    for name, board in dashboards().items():
        ids = []
        content = 0
        for panel, _row in all_panels(board):
            where = f"{name} panel {panel.get('id')} {panel.get('title')!r}"
            ids.append(panel.get("id"))
            grid = panel.get("gridPos")
            assert isinstance(grid, dict) and all(isinstance(grid.get(k), int) for k in "xywh"), where
            assert 0 <= grid["x"] and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, where
            assert panel.get("type") and panel.get("title"), where
            if panel["type"] == "row":
                assert "targets" not in panel, where
                continue
            content += 1
            targets = panel.get("targets")
            assert isinstance(targets, list) and targets, f"{where}: no targets"
            refs = [t.get("refId") for t in targets]
            assert all(isinstance(r, str) and r for r in refs) and len(set(refs)) == len(refs), (
                f"{where}: refIds {refs}"
            )
            assert all(isinstance(t.get("expr"), str) and t["expr"].strip() for t in targets), f"{where}: empty expr"
        assert len(set(ids)) == len(ids), f"{name}: panel ids {ids}"
        assert 6 <= content <= 14, f"{name}: {content} panels"


def test_panels_do_not_overlap() -> None:
    for name, board in dashboards().items():
        groups: dict[int, list[tuple[str, dict[str, int]]]] = {}
        for panel, row in all_panels(board):
            inside = row is not None and row.get("collapsed")
            groups.setdefault(id(row) if inside else 0, []).append((str(panel.get("title")), panel["gridPos"]))
        for cells in groups.values():
            for index, (title, a) in enumerate(cells):
                for other, b in cells[index + 1 :]:
                    apart = (
                        a["x"] + a["w"] <= b["x"]
                        or b["x"] + b["w"] <= a["x"]
                        or a["y"] + a["h"] <= b["y"]
                        or b["y"] + b["h"] <= a["y"]
                    )
                    assert apart, f"{name}: {title!r} {a} overlaps {other!r} {b}"


def datasources(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            else:
                yield from datasources(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from datasources(value, f"{path}[{index}]")


def test_every_datasource_is_the_provisioned_prometheus() -> None:
    for name, board in dashboards().items():
        found = list(datasources(board))
        assert found, name
        for where, value in found:
            assert value == {"type": "prometheus", "uid": DATASOURCE_UID}, f"{name}{where}: {value!r}"
        for panel, _row in all_panels(board):
            if panel["type"] != "row":
                assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, f"{name}: {panel.get('title')!r}"
                assert all(t.get("datasource", {}).get("uid") == DATASOURCE_UID for t in panel["targets"]), panel[
                    "title"
                ]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(a[$__rate_interval])", "rate(a[1m])"),
        ("rate(a[${__interval}])", "rate(a[1m])"),
        ('a{instance=~"$instance"}', 'a{instance=~"value"}'),
        ('a{instance=~"${instance:regex}", x="[[var]]"}', 'a{instance=~"value", x="value"}'),
    ],
)
def test_grafana_variables_are_substituted(expr: str, expected: str) -> None:
    assert substitute(expr) == expected


def test_every_query_parses_for_promtool(tmp_path: Path) -> None:
    items = [(where, expr) for where, expr, _kind in queries()]
    assert len(items) >= 40, len(items)
    problems = promtool_check(items, tmp_path)
    assert not problems, "\n".join(problems)


def test_the_promtool_check_names_a_broken_panel(tmp_path: Path) -> None:
    """The check above can fail, and says where: a broken query among good ones is named."""
    good = [(where, expr) for where, expr, _kind in queries()][:3]
    problems = promtool_check([*good, ("x.json panel 7 'Broken' target B", "sum by (job (up)")], tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith("x.json panel 7 'Broken' target B: "), problems
    assert "parse error" in problems[0], problems


def used_names() -> set[str]:
    return set().union(*(metric_names(expr) for _where, expr, _kind in queries()))


def test_every_query_uses_names_that_are_exported() -> None:
    known = documented_names() | set(UPSTREAM) | set(DASHBOARD_UPSTREAM)
    unknown = {where: sorted(metric_names(expr) - known) for where, expr, _kind in queries()}
    unknown = {where: names for where, names in unknown.items() if names}
    assert not unknown, f"names neither in {METRICS_DOC.name} nor verified upstream: {unknown}"


def test_the_dashboard_table_holds_only_names_in_use_and_no_rule_names() -> None:
    assert set(DASHBOARD_UPSTREAM) <= used_names(), sorted(set(DASHBOARD_UPSTREAM) - used_names())
    assert not set(DASHBOARD_UPSTREAM) & set(UPSTREAM)


def test_every_dashboard_shows_what_it_is_for() -> None:
    """The 3 a.m. panels: each dashboard queries the metrics its component's health is read from."""
    by_board = {
        name: set().union(
            *(metric_names(t["expr"]) for panel, _row in all_panels(board) for t in panel.get("targets", []))
        )
        for name, board in dashboards().items()
    }
    assert {
        "zk_up",
        "zk_server_leader",
        "zk_peer_state",
        "zk_outstanding_requests",
        "zk_avg_latency",
        "zk_znode_count",
        "zk_sum_fsynctime",
    } <= by_board["zookeeper.json"]
    assert {
        "mesos_master_elected",
        "mesos_master_slaves_state",
        "mesos_master_task_states_current",
        "mesos_master_cpus",
        "mesos_master_mem",
    } <= by_board["mesos.json"]
    assert {
        "up",
        "marathon_apps_active_gauge",
        "marathon_deployments_active_gauge",
        "marathon_instances_running_gauge",
        "marathon_instances_staged_gauge",
    } <= by_board["marathon.json"]
    assert {
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_systemd_unit_state",
        "probe_success",
    } <= by_board["hosts.json"]
    assert {"orchestrator_zk_serving", "zk_server_leader", "mesos_master_elected", "up", "probe_success"} <= by_board[
        "overview.json"
    ]


def test_zk_sync_panels_are_in_their_own_row_only() -> None:
    """The lab runs no zk_sync: its panels sit in a row of their own, and nothing else asks for it."""
    rows_with_zk_sync = 0
    for name, board in dashboards().items():
        for panel, row in all_panels(board):
            exprs = [t["expr"] for t in panel.get("targets", [])]
            uses = any('job="zk_sync"' in e or any(n.startswith("zk_sync_") for n in metric_names(e)) for e in exprs)
            in_row = row is not None and "zk_sync" in str(row.get("title"))
            assert uses == in_row, (
                f"{name}: {panel.get('title')!r} (zk_sync queries {uses}, in the zk_sync row {in_row})"
            )
            if panel.get("type") == "row" and "zk_sync" in str(panel.get("title")):
                rows_with_zk_sync += 1
                assert panel.get("collapsed") is True and panel.get("panels"), name
    assert rows_with_zk_sync == 1


def test_marathon_names_are_what_the_double_serves() -> None:
    served = exposition_names(marathon_double_exposition())
    wanted = {name for name in used_names() if name.startswith("marathon_")}
    assert wanted and wanted <= served, sorted(wanted - served)


def test_node_names_are_what_the_real_node_exporter_serves(tmp_path: Path) -> None:
    """The dashboards' node_* names from Debian's node exporter 1.5 on a free loopback port.

    The systemd collector needs systemd on D-Bus, which this machine may not run: its one name,
    node_systemd_unit_state, is verified upstream (metric_names.UPSTREAM) and used by the rules.
    """
    wanted = {n for n in used_names() if n.startswith("node_") and not n.startswith("node_systemd_")}
    port = free_port()
    collectors = ["cpu", "loadavg", "meminfo", "filesystem", "timex", "time", "stat"]
    args = [
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        *(f"--collector.{c}" for c in collectors),
    ]
    with serving(
        [NODE_EXPORTER, *args], f"http://127.0.0.1:{port}/metrics", tmp_path / "node-exporter.log", "the node exporter"
    ) as text:
        pass
    served = exposition_names(text)
    assert len(wanted) >= 8 and wanted <= served, sorted(wanted - served)
