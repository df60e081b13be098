"""The mirror as converge left it: a running, hardened service that copied the seeded source and
applies every change to the target; its metrics; the playbook's verify, copy --check and mirror
tags against the running mirror. (test_stop.py then ends it.)"""

from __future__ import annotations

import uuid

from ansible_collections.orchestrator.platform.tests.fixtures.zk_tree import read_tree
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_until
from conftest import (
    HEARTBEAT,
    MIRROR_DEADLINE_S,
    MIRROR_HOST,
    PATHS,
    TARGET,
    changed_counts,
    changed_tasks,
    node_data,
    run_playbook_json,
    scrape_metrics,
    task_results,
    unit_properties,
)
from prometheus_client.parser import text_string_to_metric_families
from scenario_helpers import docker_exec

SEEDED = {
    "/mesos/log_replicas": b"5",
    "/mesos/frameworks/f1": b'{"name": "marathon"}',
    "/marathon/state/apps/web": b'{"id": "/web", "instances": 3}',
    "/marathon/state/binary": bytes([0, 1, 2, 253, 254, 255]),
    "/marathon/state/restricted": b"kept with its ACL",
}


def without_heartbeat_data(tree: dict[str, tuple]) -> dict[str, tuple]:
    """The heartbeat node changes every second on the source: compare it by presence only."""
    return {path: (None, *rest) if path == HEARTBEAT else (data, *rest) for path, (data, *rest) in tree.items()}


def test_service_runs_hardened_as_its_own_user_without_restarts():
    props = unit_properties("ActiveState", "SubState", "User", "NRestarts", "MainPID", "FragmentPath", "UnitFileState")
    assert props["ActiveState"] == "active" and props["SubState"] == "running", props
    assert props["FragmentPath"] == "/etc/systemd/system/zk-sync.service"
    assert props["UnitFileState"] == "enabled"
    assert props["User"] == "zk-sync"
    # A crash loop (Restart=on-failure) would still show "active" between two attempts.
    assert props["NRestarts"] == "0", props
    pid = props["MainPID"]
    assert docker_exec(MIRROR_HOST, f"ps -o user= -p {pid}").strip() == "zk-sync"
    assert "NoNewPrivs:\t1" in docker_exec(MIRROR_HOST, f"cat /proc/{pid}/status")
    root = next(
        line for line in docker_exec(MIRROR_HOST, f"cat /proc/{pid}/mountinfo").splitlines() if line.split()[4] == "/"
    )
    assert " ro," in f" {root.split()[5]},", root  # ProtectSystem=strict really applies
    # The configuration holds the credentials: root and the service's group only.
    assert docker_exec(MIRROR_HOST, "stat -c '%U:%G %a' /etc/zk-sync/zk-sync.json").strip() == "root:zk-sync 640"


def test_seeded_source_was_copied_with_data_and_acls(source, target):
    src, tgt = read_tree(source, PATHS), read_tree(target, PATHS)
    for path, value in SEEDED.items():
        assert src[path][0] == value, path  # the converge seeded what this check expects
    assert HEARTBEAT in src and HEARTBEAT in tgt
    assert without_heartbeat_data(tgt) == without_heartbeat_data(src)
    restricted_acl = tgt["/marathon/state/restricted"][1]
    assert ("ip", "10.0.0.0/8", 1) in restricted_acl, restricted_acl
    # Outside zk_sync_paths: never copied.
    assert source.exists("/not-synced/x") and not target.exists("/not-synced")


def test_source_changes_reach_the_target_within_seconds(source, target, results):
    base = f"/marathon/molecule-{uuid.uuid4().hex[:8]}"
    steps = [
        ("create", lambda: source.create(base, b"v1"), lambda: node_data(target, base) == b"v1"),
        ("create child", lambda: source.create(f"{base}/c", b"c1"), lambda: node_data(target, f"{base}/c") == b"c1"),
        ("set", lambda: source.set(base, b"v2"), lambda: node_data(target, base) == b"v2"),
        ("set empty", lambda: source.set(f"{base}/c", b""), lambda: node_data(target, f"{base}/c") == b""),
        ("delete child", lambda: source.delete(f"{base}/c"), lambda: not target.exists(f"{base}/c")),
        ("delete", lambda: source.delete(base), lambda: not target.exists(base)),
    ]
    seconds = {}
    for name, change, arrived in steps:
        assert not arrived(), f"{name}: already on the target before the change"
        change()
        took = wait_until(arrived, MIRROR_DEADLINE_S)
        assert took is not None, f"{name} on the source did not reach the target within {MIRROR_DEADLINE_S} s"
        seconds[name] = round(took, 3)
    results["change_to_target_seconds"] = seconds


def test_metrics_endpoint_serves_the_lag_histogram_and_counters(ips):
    families = {f.name: f for f in text_string_to_metric_families(scrape_metrics(ips[MIRROR_HOST]))}
    lag = families["zk_sync_lag_seconds"]
    assert lag.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in lag.samples}
    # Heartbeats every second since the service started: lag samples, in buckets up to +Inf.
    count = samples[("zk_sync_lag_seconds_count", None)]
    assert count >= 3, samples
    assert samples[("zk_sync_lag_seconds_bucket", "+Inf")] == count
    assert samples[("zk_sync_lag_seconds_bucket", "10.0")] == count, "a heartbeat took more than 10 s"
    assert samples[("zk_sync_lag_seconds_sum", None)] > 0
    state = {s.labels["zk_sync_state"]: s.value for s in families["zk_sync_state"].samples}
    assert state["mirroring"] == 1.0, state
    events = next(s.value for s in families["zk_sync_events_applied"].samples if s.name.endswith("_total"))
    assert events >= 6  # at least the changes of the previous check
    assert families["zk_sync_repairs"].type == "counter"
    assert families["zk_sync_errors"].type == "counter"
    assert next(s.value for s in families["zk_sync_nodes_synced"].samples) >= len(SEEDED)


def _verify_tag() -> tuple[int, dict]:
    """The playbook's verify tag (the engine compares the live heartbeat node by presence only)."""
    rc, doc, _stderr = run_playbook_json("--tags", "verify")
    (result,) = task_results(doc, "Verify both sides")
    return rc, result


def test_verify_tag_copy_check_and_a_difference_on_the_target(source, target):
    extra = "/marathon/state/written-on-the-target"
    tampered = "/mesos/log_replicas"
    # 1. Two differences made behind the mirror's back (it watches the source only): the verify
    #    tag fails and names them; copy --check reports the fix and writes nothing.
    target.create(extra, b"not on the source")
    target.set(tampered, b"tampered")
    try:
        rc, result = _verify_tag()
        assert rc != 0, result
        kinds = {(d["path"], d["kind"]) for d in result["verify"]["differences"]}
        assert {(extra, "extra"), (tampered, "data")} <= kinds, kinds
        assert "difference(s) between source and target" in result["msg"]

        rc, doc, stderr = run_playbook_json("--tags", "copy", "--check")
        (copy,) = task_results(doc, "Copy the subtrees once")
        assert rc == 0, (copy, stderr[-2000:])
        assert copy["changed"] is True, copy
        assert copy["copy"]["deleted"] >= 1 and copy["copy"]["data_updated"] >= 1, copy["copy"]
        assert changed_counts(doc)[TARGET] >= 1
        # Read back: check mode wrote nothing (the playbook has returned: any write is done).
        assert target.exists(extra) and node_data(target, tampered) == b"tampered"
    finally:
        target.delete(extra)
        target.set(tampered, source.get(tampered)[0])

    # 2. Put back by hand: the verify tag finds nothing different while the mirror runs.
    rc, result = _verify_tag()
    assert rc == 0, result
    assert result["consistent"] is True and result["verify"]["differences_count"] == 0, result
    assert result["verify"]["nodes_compared"] >= len(SEEDED)


def test_mirror_tag_as_operators_run_it_changes_nothing():
    """`--tags mirror` alone (converge passed `all,mirror`): the role's tasks run, nothing changes,
    the service is not restarted."""
    before = unit_properties("MainPID", "ExecMainStartTimestamp")
    rc, doc, stderr = run_playbook_json("--tags", "mirror")
    assert rc == 0, stderr[-3000:]
    ran = task_results(doc, "Service | Run the mirror")
    assert ran and not ran[0].get("skipped"), "the role's tasks did not run under --tags mirror"
    assert ran[0]["status"]["ActiveState"] == "active"
    assert changed_counts(doc) == {TARGET: 0}, changed_tasks(doc)
    assert unit_properties("MainPID", "ExecMainStartTimestamp") == before
    assert not any("Stop |" in t["task"]["name"] for p in doc["plays"] for t in p["tasks"])
