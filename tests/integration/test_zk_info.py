"""zk_info against a real loopback ensemble, run through ansible-playbook, while members die and come back.

These tests kill members, so they use their own 3-member ensemble, not the session one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble, ZkMember
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.ports import free_ports
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def ensemble() -> Iterator[ZkEnsemble]:
    ens = ZkEnsemble(size=3, name="zkinfo")
    try:
        ens.start()
        yield ens
    finally:
        ens.stop()


@pytest.fixture
def healthy(ensemble: ZkEnsemble) -> Iterator[ZkEnsemble]:
    """The ensemble with every member running and a quorum; restored after the test."""
    for member in ensemble.members:
        member.start()
    ensemble.wait_for_quorum(60)
    yield ensemble
    for member in ensemble.members:
        member.start()
    ensemble.wait_for_quorum(60)


def zk_info(ensemble: ZkEnsemble, check: bool = False) -> dict:
    result = run_playbook("zk_info.yml", {"zk_hosts": ensemble.connect_string, "zk_timeout": 3}, check=check)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result


def by_port(result: dict) -> dict[int, dict]:
    return {s["port"]: s for s in result["servers"]}


def wait_until(cond, timeout: float, what: str, ensemble: ZkEnsemble) -> None:
    """wait_for with the ensemble's log tails in the timeout's message."""
    wait_for(cond, timeout, what, interval=0.1, details=lambda: ensemble.log_tails(20))


def test_healthy_ensemble(healthy: ZkEnsemble) -> None:
    result = zk_info(healthy)
    leader = healthy.leader()
    assert result["quorum_healthy"] is True
    assert result["leader"] == leader.hostport
    assert result["quorum_size"] == 3
    assert result["serving_count"] == 3
    assert sorted(s["mode"] for s in result["servers"]) == ["follower", "follower", "leader"]
    assert [s["port"] for s in result["servers"]] == [m.client_port for m in healthy.members]
    servers = by_port(result)
    lead = servers[leader.client_port]
    assert lead["followers"] == 2 and lead["synced_followers"] == 2
    for member in healthy.members:
        server = servers[member.client_port]
        assert server["reachable"] is True and server["serving"] is True
        assert server["host"] == "127.0.0.1"
        assert isinstance(server["zxid"], int)
        assert server["version"].startswith("3.8")
        assert isinstance(server["znode_count"], int)
        if member is not leader:
            assert server["followers"] is None and server["synced_followers"] is None
    assert result["problems"] == []
    # check mode reports the same
    checked = zk_info(healthy, check=True)
    assert checked["quorum_healthy"] is True and checked["leader"] == leader.hostport


def test_one_follower_down_then_two_members_down(healthy: ZkEnsemble) -> None:
    leader = healthy.leader()
    followers: list[ZkMember] = [m for m in healthy.members if m is not leader]

    followers[0].kill()
    result = zk_info(healthy)
    down = by_port(result)[followers[0].client_port]
    assert down["reachable"] is False and down["serving"] is False and down["mode"] is None
    assert "cannot reach" in down["error"]
    assert result["quorum_healthy"] is True
    assert result["leader"] == leader.hostport
    assert result["serving_count"] == 2

    # two of three down: the survivor stays up but stops serving (and ruok would still say imok)
    leader.kill()
    survivor = followers[1]
    wait_until(lambda: survivor.mode() is None and survivor.running, 60, "the survivor to stop serving", healthy)
    assert survivor.four_letter("ruok") == "imok"
    result = zk_info(healthy)
    assert result["quorum_healthy"] is False
    assert result["leader"] is None
    assert result["serving_count"] == 0
    assert result["quorum_size"] == 3
    alone = by_port(result)[survivor.client_port]
    assert alone["reachable"] is True and alone["serving"] is False and alone["mode"] is None
    assert "not currently serving" in alone["error"]

    # bring both back: a quorum forms again and zk_info says so
    followers[0].start()
    leader.start()
    healthy.wait_for_quorum(60)
    result = zk_info(healthy)
    assert result["quorum_healthy"] is True
    assert result["serving_count"] == 3
    assert sum(s["mode"] == "leader" for s in result["servers"]) == 1


def test_unreachable_hosts_only(healthy: ZkEnsemble) -> None:
    ports = free_ports(2)
    result = run_playbook("zk_info.yml", {"zk_hosts": f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", "zk_timeout": 2})
    assert not result.get("failed")
    assert result["quorum_healthy"] is False and result["serving_count"] == 0
    assert [s["reachable"] for s in result["servers"]] == [False, False]


def test_bad_hosts_string_fails_clearly() -> None:
    result = run_playbook("zk_info.yml", {"zk_hosts": "zk1:notaport"})
    assert result.get("failed") is True
    assert "hosts: cannot parse 'zk1:notaport'" in result["msg"]
