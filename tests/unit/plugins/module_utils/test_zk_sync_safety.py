"""Unit tests of zk_sync's safety pieces (issue 20): the mirror's own-write detection, the
service's exit code for it, and error messages that always name their cause."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import build_config
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    LOG,
    MultiFailed,
    ZkSyncLoop,
    describe_error,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import Node
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_service import service_main
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_writes import Op, describe_failed_op
from kazoo import exceptions as kexc


def _mirror(paths: list) -> Mirror:
    return Mirror(SyncEngine(build_config({"paths": paths}), {"hosts": "h1"}, {"hosts": "h2"}))


def _node(path: str, data: bytes, version: int = 0) -> Node:
    return Node(path, data, (1, 1, 0, 0, version, 0, 0, 0, len(data), 0, 1), (), [])


def test_a_copy_of_the_heartbeat_elsewhere_on_the_source_is_a_loop():
    mirror = _mirror([{"source": "/a", "target": "/a/sub"}])
    try:
        payload = mirror.heartbeat_payload()
        assert json.loads(payload)["run"] == mirror.run_id
        mirror.check_own_writes("/a/zk_sync_heartbeat", _node("/a/zk_sync_heartbeat", payload))  # its own: fine
        mirror.check_own_writes("/a/x", _node("/a/x", b'{"ts": 1, "run": "another run"}'))  # another run's: fine
        with pytest.raises(ZkSyncLoop, match=r"/a/sub/zk_sync_heartbeat holds this mirror's heartbeat"):
            mirror.check_own_writes("/a/sub/zk_sync_heartbeat", _node("/a/sub/zk_sync_heartbeat", payload))
    finally:
        mirror.engine.close()


def test_a_heartbeat_rewritten_more_often_than_this_run_set_it_is_a_loop():
    mirror = _mirror(["/a"])
    try:
        hb = "/a/zk_sync_heartbeat"
        mirror._hb_version, mirror._hb_sets = 7, 0
        mirror.check_own_writes(hb, _node(hb, b"{}", version=7))
        mirror._hb_sets = 2  # two sets sent: versions up to 9 are this run's own
        mirror.check_own_writes(hb, _node(hb, b"{}", version=9))
        with pytest.raises(ZkSyncLoop, match=r"is at version 10, but this mirror set it only 2 time\(s\)"):
            mirror.check_own_writes(hb, _node(hb, b"{}", version=10))
    finally:
        mirror.engine.close()


def test_the_service_exits_4_on_a_feedback_loop_and_the_unit_does_not_restart_it(tmp_path, monkeypatch, caplog):
    def looping(self):
        raise ZkSyncLoop("the mirror's own writes arrive on its source: test")

    monkeypatch.setattr(SyncEngine, "open", looping)
    config = tmp_path / "zk-sync.json"
    config.write_text(
        '{"source": {"hosts": "127.0.0.1:1"}, "target": {"hosts": "127.0.0.1:2"}, "options": {"paths": ["/a"]}}'
    )
    assert service_main([str(config)]) == 4
    assert any("own writes arrive on its source" in r.getMessage() for r in caplog.records), caplog.text
    unit = (
        __import__("pathlib").Path(__file__).resolve().parents[4] / "roles/zk_sync/templates/zk-sync.service.j2"
    ).read_text()
    prevent = next(line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus="))
    assert "4" in prevent.split("=", 1)[1].split()


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (kexc.NoNodeError(), "NoNodeError"),
        (kexc.ConnectionLoss(), "ConnectionLoss"),
        (wire.WireError("connection closed by the server"), "WireError: connection closed by the server"),
        (None, "no answer and no error given"),
    ],
)
def test_every_error_names_its_cause(exc, text):
    assert describe_error(exc) == text


def test_a_failed_write_batch_is_logged_with_its_cause(caplog):
    """The issue saw ``a write batch failed (): ...``: kazoo's exceptions have no message."""
    mirror = _mirror(["/a"])
    try:
        ops = [Op("create", "/a/x", b"1"), Op("set", "/a/y", b"2")]
        result = [kexc.RolledBackError(), kexc.NoNodeError()]
        failed = MultiFailed(result[1], describe_failed_op(ops, result))
        caplog.set_level("INFO", logger=LOG.name)
        mirror._mirror_fail(ops, failed)
        mirror._mirror_fail(ops, kexc.ConnectionLoss())
        lines = [r.getMessage() for r in caplog.records if "write batch failed" in r.getMessage()]
        assert lines[0].startswith("a write batch failed (NoNodeError at set /a/y (op 1 of 2"), lines
        assert lines[1].startswith("a write batch failed (ConnectionLoss)"), lines
        assert all("()" not in line for line in lines)
    finally:
        mirror.engine.close()


class _Server:
    """Answers one ConnectRequest per connection like a ZooKeeper server: a new session, the
    session asked for (known), or timeout 0 (unknown), then closes."""

    def __init__(self, known: set[int]) -> None:
        self.known = known
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = self.sock.getsockname()
        self.closed: list[int] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _a = self.sock.accept()
            except OSError:
                return
            with conn:
                (length,) = struct.unpack("!i", conn.recv(4))
                body = conn.recv(length)
                _proto, _zxid, timeout, sid = struct.unpack_from("!iqiq", body, 0)
                if sid == 0:
                    sid = 0x1234
                    self.known.add(sid)
                elif sid not in self.known:
                    timeout, sid = 0, 0
                answer = struct.pack("!iiq", 0, timeout, sid) + wire.write_buffer(b"p" * 16) + b"\x00"
                conn.sendall(struct.pack("!i", len(answer)) + answer)
                try:
                    head = conn.recv(12)
                except OSError:
                    head = b""
                if len(head) == 12 and struct.unpack("!iii", head)[2] == wire.OP_CLOSE:
                    self.closed.append(sid)

    def close(self) -> None:
        self.sock.close()


def test_same_ensemble_is_the_session_known_on_both_sides():
    shared: set[int] = set()
    a, b, other = _Server(shared), _Server(shared), _Server(set())
    try:
        same, why = wire_sessions.same_ensemble([a.addr], [b.addr], 2.0)
        assert same is True and "resumed the session 0x1234" in why
        same, why = wire_sessions.same_ensemble([a.addr], [other.addr], 2.0)
        assert same is False and "does not know the session" in why
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()
        same, why = wire_sessions.same_ensemble([a.addr], [dead], 1.0)
        assert same is None and "no server of the second ensemble answered" in why
    finally:
        for s in (a, b, other):
            s.close()
