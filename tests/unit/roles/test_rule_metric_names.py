"""Every metric name in the alert rules (roles/prometheus/files/rules/*.yml) is one an exporter
actually exports; a misspelt name gives a rule that never fires, which no promtool unit test
can show (its input series are written with the same misspelling).

A name must be listed in docs/monitoring/metrics.md (the collection's ZooKeeper and Mesos
exporters) or in UPSTREAM below, with the upstream source it was read from. Where this machine
can produce the metrics for real, the test asks the real program: zk_sync's own endpoint
(prometheus-client on a free loopback port), the Marathon protocol double's
``/metrics/prometheus`` text, and ``mntr`` of a real ZooKeeper member.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_metrics as zk_sync_metrics
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.unit.roles.metric_names import (
    METRICS_DOC,
    UPSTREAM,
    ZK_EXPORTER_MADE,
    documented_names,
    exposition_names,
    marathon_double_exposition,
    metric_names,
)

RULES_DIR = Path(__file__).resolve().parents[3] / "roles" / "prometheus" / "files" / "rules"


def rule_exprs() -> dict[str, str]:
    out = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                out[rule.get("alert") or rule["record"]] = rule["expr"]
    return out


def used_names() -> set[str]:
    return set().union(*(metric_names(expr) for expr in rule_exprs().values()))


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('rate(zk_x{job="a", le="0.1"}[5m]) > 0', {"zk_x"}),
        ("sum by (instance, le) (foo) / on (job) group_left (bar) baz offset 5m > bool 1e3", {"foo", "baz"}),
        ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m:1m])))", {"a_bucket"}),
        ("up == 0 unless on(job) (x:recorded:rate5m == 1) or vector(0)", {"up", "x:recorded:rate5m"}),
        ("predict_linear(a[1h], 4 * 3600) < 0 and b / ignoring(type) c", {"a", "b", "c"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
    ],
)
def test_tokenizer(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_rule_uses_names_that_are_exported() -> None:
    known = documented_names() | set(UPSTREAM)
    unknown = {alert: sorted(metric_names(expr) - known) for alert, expr in rule_exprs().items()}
    unknown = {alert: names for alert, names in unknown.items() if names}
    assert not unknown, f"names neither in {METRICS_DOC.name} nor verified upstream: {unknown}"


def test_the_upstream_table_holds_only_names_in_use() -> None:
    assert set(UPSTREAM) <= used_names(), sorted(set(UPSTREAM) - used_names())


def test_metrics_doc_lists_the_exporters_series() -> None:
    """The doc the rules are checked against is the real table, not an empty file."""
    names = documented_names()
    assert {"zk_up", "zk_server_leader", "orchestrator_zk_serving", "mesos_master_elected"} <= names


def test_zk_sync_names_are_what_its_endpoint_serves() -> None:
    if not zk_sync_metrics.HAS_PROMETHEUS:
        pytest.fail("prometheus-client is missing from the test venv (tools/requirements.txt)")
    metrics = zk_sync_metrics.Metrics()
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    try:
        metrics.set_state("mirroring")
        metrics.lag(0.004)
        metrics.add("errors")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        metrics.close()
    served = exposition_names(text)
    wanted = {name for name in used_names() if name.startswith("zk_sync_")}
    assert wanted and wanted <= served, sorted(wanted - served)
    # The rules select the Enum's current state by its label, named like the metric.
    assert re.search(r'^zk_sync_state\{zk_sync_state="mirroring"\} 1\.0$', text, re.MULTILINE), text
    assert re.search(r"^zk_sync_errors_total 1\.0$", text, re.MULTILINE), text


def test_marathon_names_are_what_the_double_serves() -> None:
    served = exposition_names(marathon_double_exposition())
    wanted = {name for name in used_names() if name.startswith("marathon_")}
    assert wanted and wanted <= served, sorted(wanted - served)


@pytest.mark.slow
def test_mntr_names_from_a_real_member() -> None:
    """The rules' mntr names, as the exporter forms them (dabealu: - . , become _), from ZooKeeper."""
    ensemble = ZkEnsemble(size=1, name="zk-rule-names")
    try:
        ensemble.start(timeout=60)
        mntr = ensemble.members[0].four_letter("mntr")
    finally:
        ensemble.stop()
    keys = {re.sub(r"[-.,]", "_", line.split("\t", 1)[0]) for line in mntr.splitlines() if "\t" in line}
    assert "zk_server_state" in keys, mntr
    wanted = {n for n in used_names() if n.startswith("zk_") and not n.startswith("zk_sync_")} - ZK_EXPORTER_MADE
    assert wanted and wanted <= keys, f"not in mntr: {sorted(wanted - keys)}\n{mntr}"
