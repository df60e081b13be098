"""mesos_master_info and mesos_maintenance against the Mesos protocol double, run as users run them.

Three masters of ``doubles/mesos/mesos_double.py`` elect a leader for real through the loopback
ZooKeeper ensemble (session fixture ``zk_ensemble``); the modules run through
``ansible-playbook`` (playbooks/mesos_*.yml) and ``ansible localhost -m`` with this venv's
Python. Every port is picked free at run time; waits poll a real condition with a deadline.
What the modules wrote is read back from the double over plain HTTP, not from the modules.
The masters' processes, the leader and HTTP are ``tests/support/mesos_cluster``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support import mesos_scheduler as ms
from ansible_collections.orchestrator.platform.tests.support.ansible_run import LOCAL, run_module, run_playbook
from ansible_collections.orchestrator.platform.tests.support.mesos_cluster import Cluster, Master, http
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(zk_ensemble: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three masters (quorum 2), no agents; started once, killed at the end."""
    c = Cluster(
        zk_ensemble.connect_string, tmp_path_factory.mktemp("mesos"), zk_path=f"/mesos-it-{uuid.uuid4().hex[:8]}"
    )
    try:
        c.start_masters()
        yield c
    finally:
        c.stop()


def info(cluster: Cluster, **extra: Any) -> dict:
    return run_playbook(
        "mesos_master_info.yml", {"mesos_masters": cluster.master_urls, "mesos_zk": cluster.zk_url, **extra}
    )


def maintenance(
    cluster: Cluster, machines: list[dict], *, check: bool = False, diff: bool = False, **extra: Any
) -> dict:
    return run_playbook(
        "mesos_maintenance.yml",
        {"mesos_masters": [cluster.masters[0].hostport], "mesos_machines": machines, **extra},
        check=check,
        diff=diff,
    )


def leader_json(leader: Master, path: str) -> dict:
    """The leader's JSON object at ``path`` ({} for an empty body), read over plain HTTP."""
    status, _headers, body = http(leader.hostport, path)
    assert status == 200 and (body is None or isinstance(body, dict)), (status, body)
    return body or {}


def schedule_of(leader: Master) -> dict:
    return leader_json(leader, "/master/maintenance/schedule")


def status_of(leader: Master) -> dict:
    return leader_json(leader, "/master/maintenance/status")


def scheduled_machines(leader: Master) -> set[tuple[str, str]]:
    return {
        (m.get("hostname", ""), m.get("ip", ""))
        for w in schedule_of(leader).get("windows", [])
        for m in w.get("machine_ids", [])
    }


# ------------------------------------------------------------------------------------------
# mesos_master_info
# ------------------------------------------------------------------------------------------


def test_leader_found_both_ways_and_equal(cluster: Cluster) -> None:
    leader = cluster.wait_leader()
    result = info(cluster)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["leader"]["http"] == leader.hostport
    assert result["leader"]["zookeeper"]["hostport"] == leader.hostport
    assert result["leader"]["zookeeper"]["znode"].startswith(f"{cluster.zk_path}/json.info_")
    assert result["leader"]["agree"] is True
    assert result["leader"]["url"] == f"http://{leader.hostport}"
    assert result["contenders"][0]["hostport"] == leader.hostport
    assert len(result["contenders"]) == 3
    masters = {m["hostport"]: m for m in result["masters"]}
    assert set(masters) == {m.hostport for m in cluster.masters}
    for hp, m in masters.items():
        assert m["reachable"] and m["healthy"] and m["in_zookeeper"], m
        assert m["version"], m
        assert m["leader"] == leader.hostport
        assert m["elected"] is (hp == leader.hostport)
    assert result["metrics"]["master/elected"] == 1.0
    assert result["metrics"]["master/uptime_secs"] > 0
    assert result["metrics"]["registrar/log/recovered"] == 1.0
    assert result["elected_time"] is not None
    assert result["agents"]["total"] == 0 and result["frameworks"]["total"] == 0
    assert result["frameworks"]["completed"] == 0 and result["frameworks"]["list"] == []
    assert result["tasks_running"] == 0 and result["tasks"] == {}
    assert result["problems"] == []


def test_zk_alone_and_masters_alone_agree(cluster: Cluster) -> None:
    leader = cluster.wait_leader()
    only_zk = run_playbook("mesos_master_info.yml", {"mesos_zk": cluster.zk_url})
    assert not only_zk.get("failed"), only_zk
    # Masters registered in ZooKeeper are probed even when not listed.
    assert {m["hostport"] for m in only_zk["masters"]} == {m.hostport for m in cluster.masters}
    assert only_zk["leader"]["agree"] is True and only_zk["leader"]["hostport"] == leader.hostport
    only_http = run_playbook("mesos_master_info.yml", {"mesos_masters": [cluster.masters[2].hostport]})
    assert not only_http.get("failed"), only_http
    assert only_http["leader"]["http"] == leader.hostport
    assert only_http["leader"]["zookeeper"] is None and only_http["leader"]["agree"] is False


def test_mesos_master_status_alias(cluster: Cluster) -> None:
    """The old name routes to mesos_master_info (meta/runtime.yml), called ad hoc like users do."""
    leader = cluster.wait_leader()
    args = {"masters": cluster.master_urls, "zk": cluster.zk_url}
    module = "orchestrator.platform.mesos_master_status"
    result = run_module("localhost", module, args, inventory="localhost,", options=LOCAL, timeout=120)
    assert not result.get("failed"), result
    assert result["leader"]["agree"] is True and result["leader"]["hostport"] == leader.hostport


# ------------------------------------------------------------------------------------------
# mesos_maintenance
# ------------------------------------------------------------------------------------------

AGENT1 = {"hostname": "agent1.example", "ip": "10.0.0.11"}
AGENT2 = {"hostname": "agent2.example", "ip": "10.0.0.12"}
OTHER = {"hostname": "other.example", "ip": "10.0.0.99"}


def test_maintenance_cycle_idempotent_check_mode_and_merge(cluster: Cluster) -> None:
    leader = cluster.wait_leader()
    # Someone else's window is already scheduled: it must survive every change below.
    other = {
        "windows": [
            {
                "machine_ids": [OTHER],
                "unavailability": {
                    "start": {"nanoseconds": 1_900_000_000_000_000_000},
                    "duration": {"nanoseconds": 3_600_000_000_000},
                },
            }
        ]
    }
    status, _headers, body = http(leader.hostport, "/master/maintenance/schedule", "POST", other)
    assert status == 200, body
    machines = [AGENT1, AGENT2]
    start = "2030-01-01T00:00:00Z"

    # Check mode: reports a change, posts nothing.
    res = maintenance(
        cluster, machines, check=True, diff=True, mesos_state="scheduled", mesos_start=start, mesos_duration="2h"
    )
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert [r["path"] for r in res["requests"]] == ["/master/maintenance/schedule"]
    assert scheduled_machines(leader) == {("other.example", "10.0.0.99")}
    assert res["diff"]["after"]["machines"] == {
        "agent1.example/10.0.0.11": "draining",
        "agent2.example/10.0.0.12": "draining",
    }

    # Schedule: changed, then not changed.
    res = maintenance(cluster, machines, mesos_state="scheduled", mesos_start=start, mesos_duration="2h")
    assert not res.get("failed") and res["changed"] is True, res
    assert scheduled_machines(leader) == {
        ("other.example", "10.0.0.99"),
        ("agent1.example", "10.0.0.11"),
        ("agent2.example", "10.0.0.12"),
    }
    windows = schedule_of(leader)["windows"]
    ours = next(w for w in windows if AGENT1 in w["machine_ids"])
    assert ours["unavailability"] == {
        "start": {"nanoseconds": 1_893_456_000_000_000_000},
        "duration": {"nanoseconds": 7_200_000_000_000},
    }
    assert other["windows"][0] in windows
    draining = {(d["id"].get("hostname"), d["id"].get("ip")) for d in status_of(leader).get("draining_machines", [])}
    assert ("agent1.example", "10.0.0.11") in draining
    res = maintenance(cluster, machines, mesos_state="scheduled", mesos_start=start, mesos_duration="2h")
    assert res["changed"] is False and res["requests"] == [], res
    # Without start/duration, scheduled machines keep their window.
    res = maintenance(cluster, machines, mesos_state="scheduled")
    assert res["changed"] is False, res

    # Down: check mode posts nothing; then changed; then not changed.
    res = maintenance(cluster, [AGENT1], check=True, mesos_state="down")
    assert res["changed"] is True and [r["path"] for r in res["requests"]] == ["/master/machine/down"], res
    assert status_of(leader).get("down_machines") is None
    res = maintenance(cluster, [AGENT1], diff=True, mesos_state="down")
    assert res["changed"] is True, res
    assert res["diff"]["before"]["machines"] == {"agent1.example/10.0.0.11": "draining"}
    assert res["diff"]["after"]["machines"] == {"agent1.example/10.0.0.11": "down"}
    assert status_of(leader)["down_machines"] == [AGENT1]
    res = maintenance(cluster, [AGENT1], mesos_state="down")
    assert res["changed"] is False, res

    # Absent refuses a machine that is down (Mesos would), and changes nothing.
    res = maintenance(cluster, [AGENT1], mesos_state="absent")
    assert res.get("failed") and "use state=up" in res["msg"], res
    assert status_of(leader)["down_machines"] == [AGENT1]

    # Up: the down machine comes up and leaves the schedule; agent2 (only draining) too.
    res = maintenance(cluster, machines, check=True, mesos_state="up")
    assert res["changed"] is True, res
    assert ("agent1.example", "10.0.0.11") in scheduled_machines(leader)
    res = maintenance(cluster, machines, mesos_state="up")
    assert res["changed"] is True, res
    assert [r["path"] for r in res["requests"]] == ["/master/maintenance/schedule", "/master/machine/up"]
    assert scheduled_machines(leader) == {("other.example", "10.0.0.99")}
    assert status_of(leader).get("down_machines") is None
    res = maintenance(cluster, machines, mesos_state="up")
    assert res["changed"] is False, res

    # Down straight from up: scheduled (now) then down in one run, as Mesos requires.
    res = maintenance(cluster, [AGENT2], mesos_state="down", mesos_duration="30m")
    assert res["changed"] is True, res
    assert [r["path"] for r in res["requests"]] == ["/master/maintenance/schedule", "/master/machine/down"]
    assert status_of(leader)["down_machines"] == [AGENT2]
    res = maintenance(cluster, [AGENT2], mesos_state="up")
    assert res["changed"] is True

    # Absent cancels a planned window only.
    maintenance(cluster, [AGENT1], mesos_state="scheduled", mesos_start=start)
    res = maintenance(cluster, [AGENT1], mesos_state="absent")
    assert res["changed"] is True, res
    res = maintenance(cluster, [AGENT1], mesos_state="absent")
    assert res["changed"] is False, res
    assert scheduled_machines(leader) == {("other.example", "10.0.0.99")}

    # Clean up the other window.
    status, _headers, body = http(leader.hostport, "/master/maintenance/schedule", "POST", {})
    assert status == 200, body


def test_maintenance_bad_input_fails_with_mesos_message(cluster: Cluster) -> None:
    res = maintenance(cluster, [{"hostname": "x", "ip": "300.1.1.1"}], mesos_state="scheduled")
    assert res.get("failed") and "IPv4" in res["msg"], res
    res = maintenance(cluster, [AGENT1], mesos_state="scheduled", mesos_duration="forever")
    assert res.get("failed") and "duration" in res["msg"], res


def test_maintenance_hostnames_in_other_capitals_are_the_same_machine(cluster: Cluster) -> None:
    # Mesos matches MachineIDs with the hostname lower-cased (include/mesos/type_utils.hpp) and
    # keeps the schedule as posted: a window posted as "Agent3.Example" is the task's
    # "agent3.example", so nothing is re-posted and down/up act on that machine.
    leader = cluster.wait_leader()
    posted = {"hostname": "Agent3.Example", "ip": "10.0.0.13"}
    task = {"hostname": "agent3.example", "ip": "10.0.0.13"}
    window = {"machine_ids": [posted], "unavailability": {"start": {"nanoseconds": 1_900_000_000_000_000_000}}}
    status, _headers, body = http(leader.hostport, "/master/maintenance/schedule", "POST", {"windows": [window]})
    assert status == 200, body
    res = maintenance(cluster, [task], mesos_state="scheduled")
    assert not res.get("failed") and res["changed"] is False and res["requests"] == [], res
    res = maintenance(cluster, [task], mesos_state="down")
    assert not res.get("failed") and [r["path"] for r in res["requests"]] == ["/master/machine/down"], res
    assert schedule_of(leader) == {"windows": [window]}
    assert status_of(leader) == {"down_machines": [posted]}
    res = maintenance(cluster, [task], mesos_state="up")
    assert not res.get("failed") and [r["path"] for r in res["requests"]] == ["/master/machine/up"], res
    assert schedule_of(leader) == {} and status_of(leader) == {}


# ------------------------------------------------------------------------------------------
# mesos_master_info: frameworks (a scheduler written from the docs subscribes; no agents here)
# ------------------------------------------------------------------------------------------


def test_frameworks_reported_connected_disconnected_and_removed(cluster: Cluster) -> None:
    sched = ms.Scheduler(cluster.master_urls, ms.framework_info("info-fw", failover_timeout=120, checkpoint=True))
    try:
        sched.subscribe(timeout=60)
        result = info(cluster)
        assert not result.get("failed"), result
        ours = next(f for f in result["frameworks"]["list"] if f["id"] == sched.framework_id)
        assert ours["name"] == "info-fw" and ours["active"] is True and ours["connected"] is True, ours
        assert ours["roles"] == ["*"] and ours["checkpoint"] is True and ours["failover_timeout"] == 120, ours
        assert ours["tasks_running"] == 0 and ours["tasks"] == {}, ours
        assert result["frameworks"]["connected"] >= 1 and result["tasks"] == {} and result["tasks_running"] == 0

        # The scheduler fails (connection dropped, no TEARDOWN): still registered, disconnected.
        sched.close()
        result = wait_for(
            lambda: (
                (r := info(cluster))
                and any(f["id"] == sched.framework_id and f["connected"] is False for f in r["frameworks"]["list"])
                and r
            ),
            30,
            "the framework reported disconnected",
        )
        ours = next(f for f in result["frameworks"]["list"] if f["id"] == sched.framework_id)
        assert ours["active"] is False, ours
        assert result["frameworks"]["disconnected"] >= 1

        # Back with the same FrameworkID, then TEARDOWN: removed, counted as completed.
        sched.subscribe(timeout=60)
        sched.teardown()
        result = wait_for(
            lambda: (r := info(cluster)) and all(f["id"] != sched.framework_id for f in r["frameworks"]["list"]) and r,
            30,
            "the framework gone after TEARDOWN",
        )
        assert result["frameworks"]["completed"] >= 1, result["frameworks"]
    finally:
        sched.close()


# ------------------------------------------------------------------------------------------
# failover and no leader (these kill masters: keep them last)
# ------------------------------------------------------------------------------------------


def test_leader_killed_new_leader_reported(cluster: Cluster) -> None:
    old = cluster.wait_leader()
    old.kill()
    new = cluster.wait_leader(40)
    assert new is not old
    result = info(cluster, mesos_require_leader=True)
    assert not result.get("failed"), result
    assert result["leader"]["hostport"] == new.hostport
    assert result["leader"]["agree"] is True and result["leader"]["reachable"] is True
    dead = next(m for m in result["masters"] if m["hostport"] == old.hostport)
    assert dead["reachable"] is False and dead["healthy"] is False and dead["error"]
    assert dead["in_zookeeper"] is False
    old.start()
    cluster.wait_leader()


def test_require_leader_fails_clearly_without_masters(cluster: Cluster) -> None:
    cluster.stop()
    # Without require_leader: reported, not failed.
    result = info(cluster, mesos_retries=0)
    assert not result.get("failed"), result
    assert result["leader"]["reachable"] is False and result["agents"] is None
    assert all(not m["reachable"] for m in result["masters"])
    result = info(cluster, mesos_require_leader=True, mesos_retries=1, mesos_retry_delay=0.2)
    assert result.get("failed") is True, result
    assert "no leading Mesos master found" in result["msg"]
    assert "require_leader" in result["msg"]
