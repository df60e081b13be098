"""The ensemble fixture itself: quorum, a leader, failover, restart."""

from __future__ import annotations

from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble


def test_ensemble_has_one_leader(zk_ensemble: ZkEnsemble) -> None:
    modes = sorted(m.mode() or "none" for m in zk_ensemble.members)
    assert modes == ["follower", "follower", "leader"]
    assert zk_ensemble.connect_string.count("127.0.0.1:") == 3
    ports = {p for m in zk_ensemble.members for p in (m.client_port, m.peer_port, m.election_port)}
    assert len(ports) == 9


def test_client_writes_and_reads(zk_client) -> None:
    zk_client.ensure_path("/fixture-test")
    zk_client.set("/fixture-test", b"hello")
    assert zk_client.get("/fixture-test")[0] == b"hello"
    zk_client.delete("/fixture-test")


def test_leader_kill_and_restart(zk_ensemble: ZkEnsemble) -> None:
    old = zk_ensemble.leader()
    old.kill()
    try:
        assert old.mode() is None
        zk_ensemble.wait_for_quorum(30)
        new = zk_ensemble.leader()
        assert new is not old
    finally:
        # the session ensemble is shared: always bring the member back
        old.start()
        old.wait_serving(30)
        zk_ensemble.wait_for_quorum(30)
    assert old.mode() == "follower"
