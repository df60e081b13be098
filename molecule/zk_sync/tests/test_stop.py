"""The end of a migration: the playbook's stop tag creates the stop marker on the source, the
service drains, reconciles, verifies and exits 0, the tag disables the unit, removes the marker
(a later mirror must not end the moment it starts) and verifies both sides once more.
Runs after test_mirror.py (file order)."""

from __future__ import annotations

import time
import uuid

from ansible_collections.orchestrator.platform.tests.fixtures.zk_tree import read_tree
from conftest import (
    HEARTBEAT,
    MIRROR_HOST,
    PATHS,
    STOP_MARKER,
    node_data,
    run_playbook_json,
    task_results,
    unit_properties,
)
from scenario_helpers import docker_exec


def test_stop_tag_drains_verifies_and_ends_the_service(source, target, results):
    assert not source.exists(STOP_MARKER), "a stop marker is left from an earlier run"
    running = unit_properties("ActiveState", "MainPID")
    assert running["ActiveState"] == "active", running
    # The last writes right before the stop: the drain must carry them over.
    last = f"/mesos/written-just-before-stop-{uuid.uuid4().hex[:8]}"
    source.create(last, b"last")
    source.set("/marathon/state/apps/web", b'{"id": "/web", "instances": 5}')

    start = time.monotonic()
    rc, doc, stderr = run_playbook_json("--tags", "stop")
    results["stop_tag_seconds"] = round(time.monotonic() - start, 1)
    assert rc == 0, (stderr[-3000:], doc["stats"])
    (marker,) = task_results(doc, "Stop | Create the stop marker on the source")
    assert marker["changed"] is True
    (ended,) = task_results(doc, "Stop | Wait until the service has drained, verified and exited")
    assert ended["status"]["ActiveState"] == "inactive" and ended["status"]["ExecMainStatus"] == "0", ended["status"]
    (verify,) = task_results(doc, "Verify both sides")
    assert verify["consistent"] is True and verify["verify"]["differences_count"] == 0, verify

    props = unit_properties("ActiveState", "Result", "ExecMainStatus", "NRestarts", "UnitFileState")
    assert props["ActiveState"] == "inactive" and props["Result"] == "success", props
    assert props["ExecMainStatus"] == "0" and props["NRestarts"] == "0", props
    assert props["UnitFileState"] == "disabled", "the ended mirror would start again at the next boot"
    (removed,) = task_results(doc, "Stop | Remove the stop marker from the source")
    assert removed["changed"] is True
    assert not source.exists(STOP_MARKER), "the marker would end the next mirror the moment it starts"
    # What the process itself reported before exiting (this process only, not earlier runs; its
    # PID as the wait task saw it: disabling the unit reloads systemd, which forgets it).
    pid = ended["status"]["ExecMainPID"]
    assert pid not in ("", "0"), ended["status"]
    log = docker_exec(MIRROR_HOST, f"journalctl --no-pager -o cat _PID={pid}")
    assert '"stop_reason": "stop_marker"' in log, log[-3000:]
    assert "verify: consistent=True differences=0" in log, log[-3000:]

    # Both sides read independently: identical, and the engine's heartbeat node is gone from
    # both (the migration is over; a later sync into the target is refused as non-empty).
    assert not source.exists(HEARTBEAT) and not target.exists(HEARTBEAT)
    assert node_data(target, last) == b"last"
    assert node_data(target, "/marathon/state/apps/web") == b'{"id": "/web", "instances": 5}'
    assert read_tree(target, PATHS) == read_tree(source, PATHS)
    assert not target.exists(STOP_MARKER)  # outside the synced paths
    assert set(doc["stats"]) == {MIRROR_HOST}  # the playbook runs on the zk_sync group only
