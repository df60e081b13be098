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

import importlib
import re
import sys
import threading
import types
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_metrics as zk_sync_metrics
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[3]
RULES_DIR = REPO / "roles" / "prometheus" / "files" / "rules"
METRICS_DOC = REPO / "docs" / "monitoring" / "metrics.md"
MARATHON_DOUBLE = REPO / "doubles" / "marathon" / "marathon_double"

# Names verified in upstream sources (the exporters are not installed here) or on this machine.
UPSTREAM = {
    # Prometheus itself, for every target: docs/concepts/jobs_instances.md ("up").
    "up": "prometheus/prometheus docs/concepts/jobs_instances.md",
    # prometheus/node_exporter v1.5.0 (Debian's 1.5 package here).
    "node_filesystem_avail_bytes": "node_exporter v1.5.0 collector/filesystem_common.go",
    "node_filesystem_size_bytes": "node_exporter v1.5.0 collector/filesystem_common.go",
    "node_filesystem_readonly": "node_exporter v1.5.0 collector/filesystem_common.go",
    "node_memory_MemAvailable_bytes": "node_exporter v1.5.0 collector/meminfo.go (/proc/meminfo key + _bytes)",
    "node_memory_MemTotal_bytes": "node_exporter v1.5.0 collector/meminfo.go (/proc/meminfo key + _bytes)",
    "node_systemd_unit_state": "node_exporter v1.5.0 collector/systemd_linux.go (labels name, state, type)",
    "node_timex_offset_seconds": "node_exporter v1.5.0 collector/timex.go",
    "node_timex_sync_status": "node_exporter v1.5.0 collector/timex.go",
    "node_timex_maxerror_seconds": "node_exporter v1.5.0 collector/timex.go",
    # prometheus/blackbox_exporter v0.23.0.
    "probe_success": "blackbox_exporter v0.23.0 prober/handler.go",
    # mesosphere/marathon: docs/docs/metrics.md ("Important metrics"), names built by
    # metrics/current/DropwizardMetrics.scala constructName (<prefix>.<name>.<type>) and made
    # Prometheus names by metrics/current/reporters/PrometheusReporter.scala sanitizeName
    # ([^a-zA-Z0-9_] -> _); registered in core/deployment/impl/DeploymentManagerActor.scala
    # ("deployments.active"), core/task/tracker/impl/InstanceTrackerActor.scala
    # ("instances.running", "instances.staged"), core/task/jobs/impl/OverdueInstancesActor.scala
    # ("instances.launch-overdue"). Also checked against the double below.
    "marathon_deployments_active_gauge": "marathon DeploymentManagerActor.scala",
    "marathon_instances_running_gauge": "marathon InstanceTrackerActor.scala",
    "marathon_instances_staged_gauge": "marathon InstanceTrackerActor.scala",
    "marathon_instances_launch_overdue_gauge": "marathon OverdueInstancesActor.scala",
    # plugins/module_utils/_zk_sync_metrics.py as prometheus-client 0.2x exposes it (checked below).
    "zk_sync_lag_seconds_bucket": "_zk_sync_metrics.py Histogram zk_sync_lag_seconds",
    "zk_sync_lag_seconds_count": "_zk_sync_metrics.py Histogram zk_sync_lag_seconds",
    "zk_sync_last_lag_seconds": "_zk_sync_metrics.py Gauge",
    "zk_sync_errors_total": "_zk_sync_metrics.py Counter zk_sync_errors",
    "zk_sync_state": "_zk_sync_metrics.py Enum (label zk_sync_state)",
    # A numeric mntr line the collection's exporter passes through (metrics.md, "<mntr key>"):
    # ZooKeeper's ServerMetrics summary "fsynctime" (ms), dumped by mntr as zk_{avg,min,max,cnt,
    # sum}_fsynctime (zookeeper-server/.../server/ServerMetrics.java); checked against a real
    # member below. (fsync_threshold_exceed_count is NOT in 3.8's mntr: that test found it out.)
    "zk_sum_fsynctime": "ZooKeeper mntr, ServerMetrics.java FSYNC_TIME summary",
}

KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
}
LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENT = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")
# Series the collection's exporter makes itself (not mntr lines): metrics.md lists them.
ZK_EXPORTER_MADE = {"zk_up", "zk_server_leader", "zk_ruok", "zk_version", "zk_peer_state"}


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers that are no function, keyword or label."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = LABEL_LISTS.sub(" ", text)
    names = set()
    for match in IDENT.finditer(text):
        if text[match.end() :].lstrip().startswith("("):
            continue
        if match.group(0).lower() in KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def rule_exprs() -> dict[str, str]:
    out = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                out[rule.get("alert") or rule["record"]] = rule["expr"]
    return out


def used_names() -> set[str]:
    return set().union(*(metric_names(expr) for expr in rule_exprs().values()))


def documented_names() -> set[str]:
    return set(re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", METRICS_DOC.read_text(encoding="utf-8")))


def exposition_names(text: str) -> set[str]:
    return {re.split(r"[{\s]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


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


def marathon_double_exposition() -> str:
    """The double's /metrics/prometheus text, from its own Api.prometheus() over an empty core."""
    if str(MARATHON_DOUBLE.parent) not in sys.path:
        sys.path.insert(0, str(MARATHON_DOUBLE.parent))
    api_cls: Any = importlib.import_module("marathon_double.api").Api
    core = types.SimpleNamespace(
        lock=threading.Lock(), instances={}, apps={}, deployments=[], bus=types.SimpleNamespace(count=0), counters={}
    )
    api = api_cls(flags={"metrics_name_prefix": "marathon"}, core=core, host_port="127.0.0.1:0", abdicate=lambda: None)
    return str(api.prometheus())


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
