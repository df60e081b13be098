"""The Mesos exporter's tables (read off mesos/mesos_exporter 1.1.2), on snapshots of a master and
an agent, against docs/monitoring/metrics.md. Against the running double:
tests/integration/test_exporters.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _exporter_mesos as m
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import PollError, render_rows
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[4]
DOC = REPO / "docs" / "monitoring" / "metrics.md"


def rows_by(rows: list) -> dict:
    return {(r.sample, tuple(sorted(r.labels.items()))): r.value for r in rows}


def test_resources_give_percent_total_used_and_free():
    snap = {"master/elected": 1.0, "master/cpus_total": 4.0, "master/cpus_used": 1.5, "master/cpus_percent": 0.375}
    got = rows_by(m.snapshot_rows(snap, m.MASTER_SNAPSHOT))
    assert got[("mesos_master_cpus", (("type", "free"),))] == 2.5
    assert got[("mesos_master_cpus", (("type", "used"),))] == 1.5
    assert got[("mesos_master_cpus", (("type", "percent"),))] == 0.375
    assert got[("mesos_master_elected", ())] == 1.0
    # Absent fields make no series (upstream would say 0).
    assert not [k for k in got if k[0] == "mesos_master_mem"]


def test_standby_snapshot_says_not_elected():
    got = rows_by(m.snapshot_rows({"master/elected": 0.0, "master/uptime_secs": 12.0}, m.MASTER_SNAPSHOT))
    assert got == {("mesos_master_elected", ()): 0.0, ("mesos_master_uptime_seconds", ()): 12.0}


def test_regex_metrics_take_their_labels_from_the_keys():
    snap = {
        "master/task_failed/source_executor/reason_command_executor_failed": 3.0,
        "master/slave_removals/reason_unhealthy": 2.0,
        "frameworks/marathon/messages_received": 5.0,
        "frameworks//messages_received": 9.0,
        "allocator/mesos/roles/web/shares/dominant": 0.25,
    }
    got = rows_by(m.snapshot_rows(snap, m.MASTER_SNAPSHOT))
    labels = (("reason", "command_executor_failed"), ("source", "executor"), ("state", "failed"))
    assert got[("mesos_master_task_state_counts_by_source_reason", labels)] == 3.0
    assert got[("mesos_master_slave_removal_events_reasons", (("reason", "unhealthy"),))] == 2.0
    assert got[("mesos_master_frameworks_messages", (("framework", "marathon"), ("type", "received")))] == 5.0
    assert got[("mesos_master_allocator_role_shares_dominant", (("role", "web"),))] == 0.25
    assert len([k for k in got if k[0] == "mesos_master_frameworks_messages"]) == 1  # empty framework skipped


def test_agent_snapshot_and_types_survive_the_text_format():
    snap = {
        "slave/registered": 1.0,
        "slave/tasks_running": 2.0,
        "slave/executors_terminated": 4.0,
        "slave/valid_status_updates": 7.0,
        "containerizer/mesos/disk/project_ids_total": 10.0,
        "containerizer/mesos/disk/project_ids_free": 4.0,
        "slave/cpus_total": "bad",
    }
    rows = m.snapshot_rows(snap, m.AGENT_SNAPSHOT)
    families = {f.name: f for f in text_string_to_metric_families(render_rows(rows).decode())}
    # An upstream counter without _total keeps its exact name (untyped), one with _total is a counter.
    assert families["mesos_slave_executors_terminated"].type == "unknown"
    assert families["mesos_slave_executors_terminated"].samples[0].name == "mesos_slave_executors_terminated"
    assert families["mesos_slave_messages_outcomes"].type == "counter"
    assert families["mesos_slave_messages_outcomes"].samples[0].name == "mesos_slave_messages_outcomes_total"
    assert families["mesos_slave_task_states_current"].samples[0].labels == {"state": "running"}
    xfs = {s.labels["type"]: s.value for s in families["mesos_slave_containerizer_xfs_project_ids"].samples}
    assert xfs == {"total": 10.0, "used": 6.0, "free": 4.0}
    assert "mesos_slave_cpus" not in families  # a non-number is skipped, not fatal


def test_state_rows_per_agent():
    state = {
        "slaves": [
            {
                "pid": "slave(1)@10.0.0.5:5051",
                "resources": {"cpus": 2, "mem": 1024, "disk": 100, "ports": "[31000-31099, 32000-32000]"},
                "used_resources": {"cpus": 0.5, "mem": 128, "disk": 0, "ports": "[31000-31001]"},
                "unreserved_resources": {"cpus": 2, "mem": 1024, "disk": 100},
            }
        ]
    }
    got = rows_by(m.state_rows(state))
    pid = (("slave", "slave(1)@10.0.0.5:5051"),)
    assert got[("mesos_slave_ports", pid)] == 101
    assert got[("mesos_slave_ports_used", pid)] == 2
    assert got[("mesos_slave_ports_unreserved", pid)] == 0
    assert got[("mesos_slave_mem_bytes", pid)] == 1024 * 1024  # upstream's MB * 1024
    assert got[("mesos_slave_cpus_used", pid)] == 0.5
    with pytest.raises(ValueError, match="bad port range"):
        m.port_count("[a-b]")


def test_every_table_metric_is_in_the_doc_and_the_doc_names_no_other_mesos_metric():
    doc = DOC.read_text()
    table = {s.name for s in (*m.MASTER_SNAPSHOT, *m.AGENT_SNAPSHOT)}
    table |= {"mesos_slave_" + name for name, *_rest in m.STATE_RESOURCES}
    documented = set(re.findall(r"`(mesos_[a-z0-9_]+)`", doc))
    documented |= {
        f"mesos_slave_{kind}{suffix}"
        for kind in ("mem", "disk")
        for suffix in ("_bytes", "_used_bytes", "_unreserved_bytes")
        if f"`mesos_slave_{kind}_bytes`" in doc
    }
    assert table - documented == set()
    # Besides metrics the doc names the inventory groups and the one upstream metric left out.
    not_exported = {"mesos_masters", "mesos_agents", "mesos_slave_attributes"}
    assert documented - table - not_exported == {"mesos_collector_errors_total"}


def test_bad_answers_raise_poll_errors_with_reasons():
    class Client:
        def __init__(self, status, body):
            self.status, self.body = status, body

        def exchange(self, method, url, timeout=None):
            status, body = self.status, self.body

            class Response:
                def json(self):
                    return json.loads(body)

            r = Response()
            r.status = status
            return r

    for client, reason in (
        (Client(503, "{}"), "http_status"),
        (Client(200, "<html>"), "bad_response"),
        (Client(200, "[1]"), "bad_response"),
        (Client(200, '{"slave/registered": 1}'), "bad_response"),  # a master URL that is an agent
    ):
        with pytest.raises(PollError) as err:
            m.MesosTarget("master", "http://127.0.0.1:1", client).poll()
        assert err.value.reason == reason
