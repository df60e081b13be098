"""zk_info given only the leader's address (issue 20, item 4): the leader reports its synced
followers, so the quorum is healthy, and the members not asked are named. Read-only: runs on the
session ensemble of tests/conftest.py, through ansible-playbook."""

from __future__ import annotations

from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook


def zk_info(hosts: str) -> dict:
    return run_playbook("zk_info.yml", {"zk_hosts": hosts, "zk_timeout": 3})


def test_the_leaders_address_alone_reports_a_healthy_quorum(zk_ensemble: ZkEnsemble) -> None:
    leader = zk_ensemble.leader()
    result = zk_info(leader.hostport)
    assert not result.get("failed"), result.get("msg")
    assert result["quorum_healthy"] is True, result
    assert result["leader"] == leader.hostport and result["quorum_size"] == 3
    others = sorted(m.myid for m in zk_ensemble.members if m is not leader)
    assert [line.split("=", 1)[0] for line in result["not_asked"]] == [f"server.{i}" for i in others]
    every = zk_info(zk_ensemble.connect_string)
    assert every["quorum_healthy"] is True and every["not_asked"] == []
