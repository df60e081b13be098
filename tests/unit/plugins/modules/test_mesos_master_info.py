"""mesos_master_info: main() against canned masters on 127.0.0.1 (ZooKeeper side faked)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.modules import mesos_master_info
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import (
    FakeMesos,
    fake_mesos_servers,
    run_module,
    unused_port,
)


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMesos]]:
    with fake_mesos_servers() as make:
        yield make


def master(fake: Callable[..., FakeMesos], elected: bool) -> FakeMesos:
    srv = fake()
    srv.routes.update(
        {
            ("GET", "/health"): (200, {}, b""),
            # /version as libprocess serves it (docs/endpoints/version.md fields).
            ("GET", "/version"): (200, {}, {"version": "1.11.0", "build_date": "2020-11-19 17:15:00"}),
            ("GET", "/metrics/snapshot"): (
                200,
                {},
                {
                    "master/elected": 1.0 if elected else 0.0,
                    "master/uptime_secs": 120.5,
                    "master/slaves_active": 1.0,
                    "master/tasks_running": 1.0,
                    "master/cpus_total": 2.0,
                    "registrar/log/recovered": 1.0,
                },
            ),
        }
    )
    return srv


def cluster(fake: Callable[..., FakeMesos]) -> tuple[FakeMesos, FakeMesos]:
    leader, follower = master(fake, True), master(fake, False)
    for srv in (leader, follower):
        srv.routes[("GET", "/master/redirect")] = (307, {"Location": f"//127.0.0.1:{leader.port}"}, None)
    leader.routes[("GET", "/master/state")] = (
        200,
        {},
        {
            "version": "1.11.0",
            "elected_time": 1455643643.43457,
            "cluster": "lab",
            "leader": f"master@127.0.0.1:{leader.port}",
            "slaves": [
                {
                    "id": "S0",
                    "hostname": "agent1",
                    "active": True,
                    "resources": {"cpus": 2.0, "mem": 1024.0, "disk": 2048.0, "gpus": 0.0},
                    "used_resources": {"cpus": 0.5, "mem": 128.0, "disk": 0.0, "gpus": 0.0},
                }
            ],
            "frameworks": [{"id": "F0", "name": "marathon", "active": True, "tasks": [{"state": "TASK_RUNNING"}]}],
        },
    )
    # A non-leader redirects /master/state to the leader (src/master/http.cpp).
    follower.routes[("GET", "/master/state")] = (307, {"Location": f"//127.0.0.1:{leader.port}/master/state"}, None)
    return leader, follower


def zk_view(monkeypatch: pytest.MonkeyPatch, *servers: FakeMesos) -> None:
    """ZooKeeper lists these masters, the first lowest."""
    infos = [
        {
            "hostname": "127.0.0.1",
            "port": s.port,
            "hostport": s.hostport,
            "ip": "127.0.0.1",
            "sequence": i,
            "id": str(i),
        }
        for i, s in enumerate(servers)
    ]
    monkeypatch.setattr(mesos_master_info, "zk_masters", lambda zk, timeout: [dict(x) for x in infos])


def test_leader_both_ways(fake, capsys, monkeypatch) -> None:
    leader, follower = cluster(fake)
    zk_view(monkeypatch, leader, follower)
    failed, result = run_module(
        mesos_master_info.main, {"masters": [follower.base], "zk": "zk://127.0.0.1:2181/mesos", "retries": 0}, capsys
    )
    assert not failed, result
    assert result["changed"] is False
    assert result["leader"]["http"] == leader.hostport
    assert result["leader"]["zookeeper"]["hostport"] == leader.hostport
    assert result["leader"]["agree"] is True and result["leader"]["reachable"] is True
    # The leader was found in ZooKeeper only, and probed too.
    assert [x["hostport"] for x in result["masters"]] == [follower.hostport, leader.hostport]
    by = {x["hostport"]: x for x in result["masters"]}
    assert by[leader.hostport]["elected"] is True and by[follower.hostport]["elected"] is False
    assert all(x["healthy"] and x["version"] == "1.11.0" and x["in_zookeeper"] for x in result["masters"])
    assert result["elected_time"] == 1455643643.43457 and result["cluster"] == "lab"
    assert result["agents"]["active"] == 1 and result["agents"]["resources_used"]["cpus"] == 0.5
    assert result["frameworks"]["total"] == 1 and result["tasks_running"] == 1
    assert result["metrics"]["master/elected"] == 1.0 and result["metrics"]["master/uptime_secs"] == 120.5
    assert result["metrics"]["master/mem_total"] is None
    assert result["problems"] == []


def test_disagreement_is_reported(fake, capsys, monkeypatch) -> None:
    leader, follower = cluster(fake)
    zk_view(monkeypatch, follower, leader)  # ZooKeeper says the follower leads
    failed, result = run_module(
        mesos_master_info.main, {"masters": [leader.base], "zk": "zk://127.0.0.1:2181/mesos", "retries": 0}, capsys
    )
    assert not failed, result
    assert result["leader"]["agree"] is False
    assert any("ZooKeeper names" in p for p in result["problems"])


def test_no_leader_reported_unless_required(fake, capsys) -> None:
    alone = master(fake, False)
    alone.routes[("GET", "/master/redirect")] = (503, {}, b"No leader elected")
    failed, result = run_module(mesos_master_info.main, {"masters": [alone.base], "retries": 0}, capsys)
    assert not failed, result
    assert result["leader"]["url"] is None and result["leader"]["reachable"] is False
    assert result["agents"] is None and result["metrics"] is None
    assert result["masters"][0]["healthy"] is True and result["masters"][0]["leader"] is None

    failed, result = run_module(
        mesos_master_info.main,
        {"masters": [alone.base], "retries": 2, "retry_delay": 0.01, "require_leader": True},
        capsys,
    )
    assert failed
    assert "no leading Mesos master found (require_leader=true)" in result["msg"]
    # Asked 1 + retries times.
    assert sum(1 for r in alone.requests if r["path"] == "/master/redirect") == 1 + 3


def test_unreachable_master_reported(fake, capsys) -> None:
    leader, _follower = cluster(fake)
    dead = f"127.0.0.1:{unused_port()}"
    failed, result = run_module(mesos_master_info.main, {"masters": [dead, leader.hostport], "retries": 0}, capsys)
    assert not failed, result
    first = result["masters"][0]
    assert first["reachable"] is False and first["healthy"] is False and "cannot reach" in first["error"]
    assert result["leader"]["hostport"] == leader.hostport and result["leader"]["zookeeper"] is None


def test_bad_zk_url_fails(capsys) -> None:
    failed, result = run_module(mesos_master_info.main, {"zk": "zk1:2181/mesos"}, capsys)
    assert failed and "zk://" in result["msg"]


def test_secret_not_in_result(fake, capsys) -> None:
    leader, _follower = cluster(fake)
    failed, result = run_module(
        mesos_master_info.main,
        {"masters": [leader.base], "url_username": "ops", "url_password": "s3cret-value", "retries": 0},
        capsys,
    )
    assert not failed, result
    assert "s3cret-value" not in json.dumps(result)
    assert all(r["headers"].get("authorization", "").startswith("Basic ") for r in leader.requests)


def test_frameworks_and_task_counts(fake, capsys) -> None:
    """Frameworks and tasks as Full<Framework> (src/master/readonly_handler.cpp) writes them:
    non-terminal ``tasks``, ``unreachable_tasks``, ``completed_tasks``; removed frameworks in
    ``completed_frameworks``."""
    leader, _follower = cluster(fake)
    _status, _headers, state = leader.routes[("GET", "/master/state")]
    state["frameworks"] = [
        {
            "id": "M-0000",
            "name": "marathon",
            "active": True,
            "connected": True,
            "recovered": False,
            "roles": ["*"],
            "user": "root",
            "checkpoint": True,
            "failover_timeout": 604800.0,
            "tasks": [{"id": "a", "state": "TASK_RUNNING"}, {"id": "b", "state": "TASK_STAGING"}],
            "unreachable_tasks": [{"id": "c", "state": "TASK_UNREACHABLE"}],
            "completed_tasks": [{"id": "d", "state": "TASK_KILLED"}, {"id": "e", "state": "TASK_FINISHED"}],
        },
        {
            "id": "M-0001",
            "name": "batch",
            "active": False,
            "connected": False,
            "role": "batch",
            "failover_timeout": 60.0,
            "tasks": [{"id": "f", "state": "TASK_RUNNING"}, {"id": "g", "state": "TASK_RUNNING"}],
        },
    ]
    state["completed_frameworks"] = [{"id": "M-OLD", "name": "gone", "active": False, "connected": False}]
    # The leader's metric agrees with the state (3 running): no problem reported.
    leader.routes[("GET", "/metrics/snapshot")][2]["master/tasks_running"] = 3.0
    failed, result = run_module(mesos_master_info.main, {"masters": [leader.base], "retries": 0}, capsys)
    assert not failed, result
    fws = result["frameworks"]
    assert (fws["total"], fws["active"], fws["inactive"]) == (2, 1, 1)
    assert (fws["connected"], fws["disconnected"], fws["completed"]) == (1, 1, 1)
    first, second = fws["list"]
    assert first == {
        "id": "M-0000",
        "name": "marathon",
        "active": True,
        "connected": True,
        "recovered": False,
        "role": None,
        "roles": ["*"],
        "user": "root",
        "checkpoint": True,
        "failover_timeout": 604800.0,
        "tasks_running": 1,
        "tasks": {"TASK_RUNNING": 1, "TASK_STAGING": 1, "TASK_UNREACHABLE": 1},
        "completed_tasks": 2,
    }
    assert second["connected"] is False and second["active"] is False and second["role"] == "batch"
    assert second["tasks"] == {"TASK_RUNNING": 2} and second["completed_tasks"] == 0
    assert result["tasks_running"] == 3
    assert result["tasks"] == {"TASK_RUNNING": 3, "TASK_STAGING": 1, "TASK_UNREACHABLE": 1}
    assert result["problems"] == []


def test_running_tasks_disagreeing_with_the_metric_is_a_problem(fake, capsys) -> None:
    leader, _follower = cluster(fake)
    leader.routes[("GET", "/metrics/snapshot")][2]["master/tasks_running"] = 5.0
    failed, result = run_module(mesos_master_info.main, {"masters": [leader.base], "retries": 0}, capsys)
    assert not failed, result
    assert result["tasks_running"] == 1
    assert any("master/tasks_running says 5" in p for p in result["problems"]), result["problems"]


def test_no_leader_means_no_task_counts(fake, capsys) -> None:
    alone = master(fake, False)
    alone.routes[("GET", "/master/redirect")] = (503, {}, b"No leader elected")
    failed, result = run_module(mesos_master_info.main, {"masters": [alone.base], "retries": 0}, capsys)
    assert not failed, result
    assert result["frameworks"] is None and result["tasks"] is None and result["tasks_running"] is None
