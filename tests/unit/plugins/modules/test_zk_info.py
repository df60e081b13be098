"""Unit tests of zk_info against canned 4lw servers answering with real captured outputs."""

from __future__ import annotations

import builtins

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.modules import zk_info
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import (
    FOLLOWER,
    LEADER,
    NOT_SERVING,
    run_module,
    unused_port,
)

CONTRACT_KEYS = {
    "host",
    "port",
    "reachable",
    "mode",
    "serving",
    "zxid",
    "latency_min",
    "latency_avg",
    "latency_max",
    "outstanding_requests",
    "znode_count",
    "connections",
    "followers",
    "synced_followers",
    "version",
}


def test_healthy_ensemble(fourlw, capsys) -> None:
    hosts = ",".join(fourlw(kind).hostport for kind in (LEADER, FOLLOWER, FOLLOWER))
    failed, result = run_module(zk_info.main, {"hosts": hosts}, capsys)
    assert not failed
    assert result["changed"] is False
    assert result["quorum_healthy"] is True
    assert result["quorum_size"] == 3
    assert result["serving_count"] == 3
    assert result["leader"] == hosts.split(",", maxsplit=1)[0]
    for server in result["servers"]:
        assert CONTRACT_KEYS <= set(server)
    assert [s["mode"] for s in result["servers"]] == ["leader", "follower", "follower"]


def test_no_quorum(fourlw, capsys) -> None:
    hosts = ",".join([fourlw(NOT_SERVING).hostport, f"127.0.0.1:{unused_port()}", f"127.0.0.1:{unused_port()}"])
    failed, result = run_module(zk_info.main, {"hosts": hosts, "timeout": 1}, capsys)
    assert not failed  # reporting an unhealthy ensemble is not a failure of the module
    assert result["quorum_healthy"] is False
    assert result["leader"] is None
    assert [s["reachable"] for s in result["servers"]] == [True, False, False]
    assert [s["serving"] for s in result["servers"]] == [False, False, False]


def test_check_mode_reports_the_same(fourlw, capsys) -> None:
    hosts = ",".join(fourlw(kind).hostport for kind in (LEADER, FOLLOWER, FOLLOWER))
    failed, result = run_module(zk_info.main, {"hosts": hosts, "_ansible_check_mode": True}, capsys)
    assert not failed and result["quorum_healthy"] is True and result["changed"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hosts": ""}, "hosts: must be a non-empty string"),
        ({"hosts": "zk1:notaport"}, "hosts: cannot parse 'zk1:notaport'"),
        ({"hosts": "zk1:2181", "timeout": 0}, "timeout: must be more than 0"),
        ({}, "missing required arguments: hosts"),
    ],
)
def test_bad_input(capsys, params: dict, message: str) -> None:
    failed, result = run_module(zk_info.main, params, capsys)
    assert failed
    assert message in result["msg"]


def test_needs_no_kazoo(fourlw, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """zk_info runs on a ZooKeeper host without kazoo: it never imports or uses it."""
    real_import = builtins.__import__

    def no_kazoo(name: str, *args: object, **kwargs: object):
        if name.startswith("kazoo"):
            raise ImportError("kazoo is not installed here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_kazoo)
    monkeypatch.setattr(_zk, "HAS_KAZOO", False)
    monkeypatch.setattr(_zk, "KazooClient", None, raising=False)
    failed, result = run_module(zk_info.main, {"hosts": fourlw(LEADER).hostport}, capsys)
    assert not failed
    assert result["servers"][0]["mode"] == "leader"
