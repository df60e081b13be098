"""zk_info given only some members uses what the leader knows (issue 20, item 4).

Canned answers (captured from ZooKeeper 3.8) through a patched ``four_letter_word``.
"""

from __future__ import annotations

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk

SRVR = (
    "Zookeeper version: 3.8.0-${{mvngit.commit.id}}, built on 2024-12-29 17:54 UTC\n"
    "Latency min/avg/max: 5/10.0/15\nReceived: 14\nSent: 18\nConnections: 1\nOutstanding: 0\n"
    "Zxid: 0x10000000a\nMode: {mode}\nNode count: 5\n"
)
MNTR = "zk_version\t3.8.0\nzk_server_state\tleader\nzk_learners\t2\nzk_synced_followers\t{synced}\nzk_quorum_size\t3\n"
CONF = (
    "clientPort={port}\nserverId={myid}\ninitLimit=20\nmembership: \n"
    "server.1=10.0.0.1:2888:3888:participant\nserver.2=10.0.0.2:2888:3888:participant\n"
    "server.3=10.0.0.3:2888:3888:participant\nversion=0\n"
)


def _servers(monkeypatch, synced: int = 2, conf: bool = True) -> None:
    """zk1 (myid 1) leads, zk2 (myid 2) and zk3 (myid 3) follow."""

    def answer(host: str, port: int, command: str, timeout: float = 5.0) -> str:
        myid = int(host[2:])
        if command == "srvr":
            return SRVR.format(mode="leader" if myid == 1 else "follower")
        if command == "mntr" and myid == 1:
            return MNTR.format(synced=synced)
        if command == "conf":
            return CONF.format(port=port, myid=myid) if conf else f"{command} {_zk.NOT_WHITELISTED}.\n"
        raise AssertionError(f"unexpected {command} to {host}")

    monkeypatch.setattr(_zk, "four_letter_word", answer)


def test_the_leader_alone_reports_a_healthy_quorum_and_names_the_members_not_asked(monkeypatch):
    _servers(monkeypatch)
    status = _zk.ensemble_status("zk1:2181", 2)
    assert status["quorum_healthy"] is True
    assert status["leader"] == "zk1:2181" and status["quorum_size"] == 3
    assert status["not_asked"] == ["server.2=10.0.0.2:2888:3888:participant", "server.3=10.0.0.3:2888:3888:participant"]


def test_the_leader_without_synced_followers_is_not_a_quorum(monkeypatch):
    _servers(monkeypatch, synced=0)
    status = _zk.ensemble_status("zk1:2181", 2)
    assert status["quorum_healthy"] is False
    assert len(status["not_asked"]) == 2


def test_members_not_asked_are_counted_when_conf_is_not_whitelisted(monkeypatch):
    _servers(monkeypatch, conf=False)
    status = _zk.ensemble_status("zk1:2181,zk2:2181", 2)
    assert status["quorum_healthy"] is True
    assert status["not_asked"] == [
        "a voting member not in hosts (address unknown: conf is not in 4lw.commands.whitelist)"
    ]


@pytest.mark.parametrize("hosts", ["zk1:2181,zk2:2181,zk3:2181", "zk2:2181,zk3:2181"])
def test_nothing_is_not_asked_when_every_member_or_no_leader_is_given(monkeypatch, hosts):
    _servers(monkeypatch)
    status = _zk.ensemble_status(hosts, 2)
    assert status["not_asked"] == []
