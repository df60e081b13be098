"""Metric names the collection's exporters and scraped services export, and a PromQL tokenizer.

Shared by test_rule_metric_names.py (the alert rules) and test_grafana_dashboards.py (the
dashboards): a name must be listed in docs/monitoring/metrics.md (the collection's ZooKeeper and
Mesos exporters) or in UPSTREAM / DASHBOARD_UPSTREAM below, with the upstream source it was read
from.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
METRICS_DOC = REPO / "docs" / "monitoring" / "metrics.md"
MARATHON_DOUBLE = REPO / "doubles" / "marathon" / "marathon_double"

# Names the alert rules use, verified in upstream sources (the exporters are not installed here)
# or on this machine. test_rule_metric_names.py requires each one to be used by a rule.
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

# Names only the Grafana dashboards (roles/grafana/files/dashboards/) use besides UPSTREAM's;
# test_grafana_dashboards.py requires each one to be used by a panel, and asks the real node
# exporter and the Marathon double for theirs.
DASHBOARD_UPSTREAM = {
    "node_cpu_seconds_total": "node_exporter v1.5.0 collector/cpu_linux.go (labels cpu, mode)",
    "node_load1": "node_exporter v1.5.0 collector/loadavg.go",
    "node_boot_time_seconds": "node_exporter v1.5.0 collector/stat_linux.go",
    "node_time_seconds": "node_exporter v1.5.0 collector/time.go",
    "probe_duration_seconds": "blackbox_exporter v0.23.0 prober/handler.go",
    # marathon docs/docs/metrics.md names marathon.apps.active.gauge as its example name.
    "marathon_apps_active_gauge": "marathon docs/docs/metrics.md; the double's /metrics/prometheus",
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


def documented_names() -> set[str]:
    return set(re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", METRICS_DOC.read_text(encoding="utf-8")))


def exposition_names(text: str) -> set[str]:
    return {re.split(r"[{\s]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def marathon_double_exposition() -> str:
    """The double's /metrics/prometheus text, from its own Api.prometheus() over an empty core."""
    if str(MARATHON_DOUBLE.parent) not in sys.path:
        sys.path.insert(0, str(MARATHON_DOUBLE.parent))
    api_cls: Any = importlib.import_module("marathon_double.api").Api
    core = types.SimpleNamespace(
        lock=threading.Lock(),
        instances={},
        apps={},
        deployments=[],
        bus=types.SimpleNamespace(count=0),
        counters={},
        launch_overdue=0,
        leader_since=0.0,  # a leader's exposition: it has the leadership.duration gauge
    )
    api = api_cls(flags={"metrics_name_prefix": "marathon"}, core=core, host_port="127.0.0.1:0", abdicate=lambda: None)
    return str(api.prometheus())
