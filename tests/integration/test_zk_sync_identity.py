"""zk_sync decides from the servers whether source and target are one ensemble (issue 20, item 1).

Connect strings cannot tell: here one ensemble is reached through different members, through
a subset of them and through a TCP forwarder whose address shares nothing with the members'.
Each must be refused before the first write when the paths overlap, and two genuinely
different ensembles must still be allowed. A mirror whose start-up check is bypassed (as if it
had been fooled) must stop on its own writes arriving on its source.

Uses the session ensemble of ``tests/conftest.py`` (3 members) and a 1-member ensemble of its own.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import build_config
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    ZkSyncError,
    ZkSyncLoop,
    ZkSyncUnavailable,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_run import run
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.zk_client import delete_recursive, kazoo_client
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError


class Forwarder:
    """A TCP forwarder on 127.0.0.2 (an address no member has) to one upstream server."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.2", 0))
        self.listener.listen(16)
        self.address = self.listener.getsockname()
        self.connections = 0
        self._socks: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="test-forwarder", daemon=True)
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self.connections += 1
            self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for s in self._socks:
            s.close()
        self._thread.join(5)


@pytest.fixture
def zk(zk_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    with kazoo_client(zk_ensemble.connect_string, start_timeout=20) as client:
        yield client


def _wipe(c: KazooClient, *paths: str) -> None:
    for path in paths:
        delete_recursive(c, path)


def _count(c: KazooClient, root: str) -> int:
    try:
        kids = c.get_children(root)
    except NoNodeError:
        return 0
    return 1 + sum(_count(c, f"{root}/{k}") for k in kids)


def _side(hosts: str) -> dict:
    return {"hosts": hosts, "timeout": 5.0}


def _refused(source: str, target: str, opts: dict, mode: str = "copy") -> str:
    with pytest.raises(ZkSyncError) as info:
        run(mode, _side(source), _side(target), opts)
    return str(info.value)


def test_one_ensemble_through_different_members_is_refused_before_any_write(zk_ensemble, zk):
    """The issue's case: source the first member, target the two others."""
    members = [m.hostport for m in zk_ensemble.members]
    source, target = members[0], ",".join(members[1:])
    _wipe(zk, "/accept", "/loop", "/same")
    zk.create("/accept/a", b"1", makepath=True)
    zk.create("/loop/a", b"1", makepath=True)
    zk.create("/same/a", b"1", makepath=True)
    before = {root: _count(zk, root) for root in ("/accept", "/loop", "/same")}

    msg = _refused(source, target, {"paths": [{"source": "/accept", "target": "/accept/inner"}]})
    assert "overlap on the same ensemble" in msg and "resumed the session" in msg, msg
    msg = _refused(
        source, target, {"paths": [{"source": "/loop", "target": "/loop/sub"}], "duration": 5}, mode="mirror"
    )
    assert "overlap on the same ensemble" in msg, msg
    msg = _refused(source, target, {"paths": ["/same"], "allow_non_empty_target": True, "duration": 5}, mode="mirror")
    assert "overlap on the same ensemble" in msg, msg
    msg = _refused(source, target, {"paths": ["/same"]}, mode="verify")
    assert "overlap on the same ensemble" in msg, msg  # verify would compare a tree with itself

    assert {root: _count(zk, root) for root in before} == before, "a refused sync wrote to the ensemble"
    assert zk.exists("/accept/inner") is None and zk.exists("/loop/sub") is None
    assert zk.exists("/loop/zk_sync_heartbeat") is None and zk.exists("/same/zk_sync_heartbeat") is None


def test_a_subset_of_members_is_the_same_ensemble(zk_ensemble, zk):
    members = [m.hostport for m in zk_ensemble.members]
    _wipe(zk, "/subset")
    zk.create("/subset/a", b"1", makepath=True)
    msg = _refused(",".join(members[:2]), members[2], {"paths": [{"source": "/subset", "target": "/subset/copy"}]})
    assert "overlap on the same ensemble" in msg, msg
    assert zk.exists("/subset/copy") is None


def test_the_same_ensemble_through_a_tcp_forwarder_is_refused(zk_ensemble, zk):
    """The forwarder's address (127.0.0.2, its own port) shares nothing with any member's."""
    members = zk_ensemble.members
    fwd = Forwarder((members[1].host, members[1].client_port))
    try:
        _wipe(zk, "/fwd")
        zk.create("/fwd/a", b"1", makepath=True)
        msg = _refused(members[0].hostport, fwd.hostport, {"paths": [{"source": "/fwd", "target": "/fwd/copy"}]})
        assert "overlap on the same ensemble" in msg and fwd.hostport in msg, msg
        assert fwd.connections > 0, "the target was not reached through the forwarder"
        assert zk.exists("/fwd/copy") is None
        # and the forwarder is the source, the member the target
        msg = _refused(fwd.hostport, members[2].hostport, {"paths": ["/fwd"]}, mode="verify")
        assert "overlap on the same ensemble" in msg, msg
    finally:
        fwd.close()


def test_two_different_ensembles_are_still_allowed(zk_ensemble, zk, other_ensemble):
    _wipe(zk, "/diff")
    zk.create("/diff/a", b"1", makepath=True)
    with kazoo_client(other_ensemble.connect_string, start_timeout=20) as other:
        try:
            _wipe(other, "/diff")
            res = run(
                "copy", _side(zk_ensemble.connect_string), _side(other_ensemble.connect_string), {"paths": ["/diff"]}
            )
            assert res["changed"] is True and other.get("/diff/a")[0] == b"1"
            # through a forwarder too: still another ensemble
            fwd = Forwarder((other_ensemble.members[0].host, other_ensemble.members[0].client_port))
            try:
                res = run("verify", _side(zk_ensemble.connect_string), _side(fwd.hostport), {"paths": ["/diff"]})
                assert res["consistent"] is True
            finally:
                fwd.close()
            assert (
                wire_sessions.same_ensemble(
                    [(m.host, m.client_port) for m in zk_ensemble.members],
                    [(m.host, m.client_port) for m in other_ensemble.members],
                    5.0,
                )[0]
                is False
            )
        finally:
            _wipe(other, "/diff")


def test_an_undecidable_identity_is_refused(zk_ensemble, zk, monkeypatch):
    """Fail closed: when the session probe cannot answer, or says "unknown" although the
    target holds the source root created by the same transaction (local sessions), refuse."""
    members = [m.hostport for m in zk_ensemble.members]
    _wipe(zk, "/undecided")
    zk.create("/undecided/a", b"1", makepath=True)
    opts = {"paths": [{"source": "/undecided", "target": "/undecided/copy"}]}
    monkeypatch.setattr(wire_sessions, "same_ensemble", lambda *a, **k: (None, "no server answered (test)"))
    with pytest.raises(ZkSyncUnavailable, match=r"cannot tell whether source and target are one ensemble"):
        run("copy", _side(members[0]), _side(members[1]), opts)
    monkeypatch.setattr(wire_sessions, "same_ensemble", lambda *a, **k: (False, "session unknown (test)"))
    msg = _refused(members[0], members[1], opts)
    assert "same transaction" in msg and "localSessionsEnabled" in msg, msg
    assert zk.exists("/undecided/copy") is None


def _fooled(monkeypatch) -> None:
    """As if the start-up check had been fooled: the mirror starts on one ensemble."""
    monkeypatch.setattr(SyncEngine, "check_identity", lambda self: None)


def test_a_mirror_feeding_itself_into_a_subpath_stops(zk_ensemble, zk, monkeypatch):
    _fooled(monkeypatch)
    _wipe(zk, "/selfloop")
    zk.create("/selfloop/a", b"1", makepath=True)
    zk.create("/selfloop/sub", b"")
    members = [m.hostport for m in zk_ensemble.members]
    cfg = build_config({"paths": [{"source": "/selfloop", "target": "/selfloop/sub"}], "heartbeat_interval": 0.1})
    engine = SyncEngine(cfg, _side(members[0]), _side(",".join(members[1:])))
    mirror = Mirror(engine)
    started = time.monotonic()
    try:
        engine.open()
        with pytest.raises(ZkSyncLoop, match=r"own writes arrive on its source") as info:
            mirror.run(duration=30, copy_first=False, drain_timeout=5)
    finally:
        engine.close()
    assert time.monotonic() - started < 20, "the loop was not noticed in time"
    assert mirror.run_id in str(info.value)
    assert _count(zk, "/selfloop") < 20, "the tree kept growing"


def test_a_mirror_rewriting_its_own_heartbeat_stops(zk_ensemble, zk, monkeypatch):
    """Same path on both sides of one ensemble (allow_non_empty_target): the heartbeat was
    rewritten about 500 times a second and the mirror still reported consistent."""
    _fooled(monkeypatch)
    _wipe(zk, "/samepath")
    zk.create("/samepath/a", b"1", makepath=True)
    members = [m.hostport for m in zk_ensemble.members]
    cfg = build_config({"paths": ["/samepath"], "allow_non_empty_target": True, "heartbeat_interval": 0.2})
    engine = SyncEngine(cfg, _side(members[0]), _side(",".join(members[1:])))
    try:
        engine.open()
        engine.preflight()
        with pytest.raises(ZkSyncLoop, match=r"heartbeat /samepath/zk_sync_heartbeat is at version"):
            Mirror(engine).run(duration=30, drain_timeout=5)
    finally:
        engine.close()
    assert zk.get("/samepath/zk_sync_heartbeat")[1].version < 50
