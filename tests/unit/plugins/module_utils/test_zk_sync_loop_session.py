"""Unit tests of the mirror loop's session: events and answers in the server's order, writes
submitted and settled by whoever reads, and what a broken connection does to them.

A scripted peer on a loopback socket plays the server's side of the wire protocol (the
session handshake, then frames the test writes); the engine's behaviour against real
ZooKeeper ensembles is in tests/integration/test_zk_sync.py.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions


class Peer:
    """Accepts one session; the test reads requests and writes frames by hand."""

    def __init__(self, session_timeout_ms: int = 10_000) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.timeout_ms = session_timeout_ms
        self.conn: socket.socket | None = None
        self.connect_sync = 0
        self.accepted = threading.Thread(target=self._accept, daemon=True)
        self.accepted.start()

    def _accept(self) -> None:
        conn, _peer = self.listener.accept()
        conn.settimeout(5.0)
        self._frame(conn)  # ConnectRequest
        body = struct.pack("!iiq", 0, self.timeout_ms, 0x1234) + wire.write_buffer(b"\x00" * 16)
        conn.sendall(wire.INT.pack(len(body)) + body)
        xid, op = struct.unpack_from("!ii", self._frame(conn), 0)
        self.connect_sync = op  # the session catches its server up before it is used
        frame = wire.REPLY.pack(xid, 5, 0) + wire.write_string("/")
        conn.sendall(wire.INT.pack(len(frame)) + frame)
        self.conn = conn

    @staticmethod
    def _frame(conn: socket.socket) -> bytes:
        head = b""
        while len(head) < 4:
            head += conn.recv(4 - len(head))
        (length,) = wire.INT.unpack(head)
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        return body

    def request(self) -> tuple[int, int]:
        """(xid, opcode) of the next request the session sent."""
        assert self.conn is not None
        xid, op = struct.unpack_from("!ii", self._frame(self.conn), 0)
        return xid, op

    def send(self, *frames: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(b"".join(wire.INT.pack(len(f)) + f for f in frames))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def event(etype: int, path: str) -> bytes:
    return wire.REPLY.pack(wire.WATCH_XID, -1, 0) + struct.pack("!ii", etype, 3) + wire.write_string(path)


def answer(xid: int, body: bytes = b"", err: int = 0) -> bytes:
    return wire.REPLY.pack(xid, 7, err) + body


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def _session(peer: Peer, seen: list) -> wire_sessions.LoopSession:  # the owner reads, as the mirror loop does
    def on_event(etype: int, path: str) -> None:
        seen.append((etype, path))

    session = wire_sessions.LoopSession([peer.address], on_event, lambda: len(seen), timeout=5.0)
    session.connect()
    peer.accepted.join(5.0)
    assert peer.connect_sync == wire.OP_SYNC
    return session


def test_an_answer_counts_the_events_read_before_it(peer):
    seen: list = []
    session = _session(peer, seen)
    try:
        (xid,) = session.send([(wire.OP_GET_DATA, wire.get_data_payload("/a"))])
        assert peer.request() == (xid, wire.OP_GET_DATA)
        peer.send(event(wire.EVENT_CHANGED, "/a"), event(wire.EVENT_CREATED, "/b"), answer(xid, b"body"))
        peer.send(event(wire.EVENT_DELETED, "/c"))
        [(err, body, before)] = session.wait([xid], 5.0)
        assert (err, body, before) == (0, b"body", 2)
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            session.pump(0.1)
        assert seen == [(wire.EVENT_CHANGED, "/a"), (wire.EVENT_CREATED, "/b"), (wire.EVENT_DELETED, "/c")]
    finally:
        session.close()


def test_answers_come_back_in_request_order_with_error_codes(peer):
    seen: list = []
    session = _session(peer, seen)
    try:
        xids = session.send([(wire.OP_GET_ACL, wire.path_payload(p)) for p in ("/x", "/y")])
        assert [peer.request()[0] for _xid in xids] == xids
        peer.send(answer(xids[0], err=wire.ERR_NO_NODE), answer(xids[1], b"acl"))
        assert [(e, b) for e, b, _n in session.wait(xids, 5.0)] == [(wire.ERR_NO_NODE, b""), (0, b"acl")]
    finally:
        session.close()


def test_a_closed_connection_marks_the_watches_lost(peer):
    session = _session(peer, [])
    try:
        assert not session.lost.is_set()
        (xid,) = session.send([(wire.OP_SYNC, wire.path_payload("/"))])
        assert peer.request() == (xid, wire.OP_SYNC)
        assert peer.conn is not None
        peer.conn.close()
        with pytest.raises(wire.WireError, match="closed by the server"):
            session.wait([xid], 5.0)
        assert session.lost.is_set()
        with pytest.raises(wire.WireError, match="not connected"):
            session.send([(wire.OP_SYNC, wire.path_payload("/"))])
    finally:
        session.close()


def test_the_keeper_reads_and_pings_while_the_owner_is_busy(monkeypatch):
    peer = Peer(session_timeout_ms=600)  # a ping is due after 200 ms of silence
    monkeypatch.setattr(wire_sessions.LoopSession, "KEEPER_IDLE", 0.05)
    seen: list = []
    session = _session(peer, seen)
    try:
        peer.send(event(wire.EVENT_CHILD, "/p"))
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)  # the owner never reads
        assert seen == [(wire.EVENT_CHILD, "/p")]
        assert peer.request() == (wire.PING_XID, wire.OP_PING)
    finally:
        session.close()
        peer.close()


def _decode_stat(err: int, body: bytes) -> object:
    if err:
        raise LookupError(f"error {err}")
    return wire.STAT.unpack_from(body, 0)


STAT_BODY = wire.STAT.pack(1, 2, 3, 4, 5, 6, 7, 0, 9, 0, 11)


def test_a_submitted_request_is_settled_by_whoever_reads_in_order(peer):
    seen: list = []
    session = _session(peer, seen)
    try:
        answered: list = []
        first = session.submit(wire.OP_SYNC, wire.path_payload("/a"), _decode_stat, answered.append)
        second = session.submit(wire.OP_SYNC, wire.path_payload("/b"), _decode_stat)
        (xid1, _op1), (xid2, _op2) = peer.request(), peer.request()
        assert xid2 == xid1 + 1
        assert not first.ready() and not second.ready()
        peer.send(answer(xid1, STAT_BODY), event(wire.EVENT_CHANGED, "/a"), answer(xid2, err=wire.ERR_NO_NODE))
        assert first.get(5.0) == wire.STAT.unpack(STAT_BODY)  # get() reads the session itself
        assert answered == [wire.STAT.unpack(STAT_BODY)]  # the callback ran when it was read
        with pytest.raises(LookupError, match=str(wire.ERR_NO_NODE)):
            second.get(5.0)
        assert seen == [(wire.EVENT_CHANGED, "/a")]  # read on the way, in the server's order
        assert second.events_before == 1 and first.events_before == 0
    finally:
        session.close()


def test_pump_any_reads_the_session_that_has_something(peer):
    other = Peer()
    quiet = _session(other, [])
    seen: list = []
    busy = _session(peer, seen)
    try:
        reply = busy.submit(wire.OP_SYNC, wire.path_payload("/"), _decode_stat)
        (xid, _op) = peer.request()
        peer.send(answer(xid, STAT_BODY))
        deadline = time.monotonic() + 5
        while not reply.ready() and time.monotonic() < deadline:
            wire_sessions.pump_any([quiet, None, busy], 1.0)
        assert reply.ready()
        started = time.monotonic()
        wire_sessions.pump_any([quiet, busy], 0.2)  # nothing more to read: it waits, then returns
        assert time.monotonic() - started >= 0.15
    finally:
        busy.close()
        quiet.close()
        other.close()


def test_a_broken_connection_fails_every_request_in_flight(peer):
    session = _session(peer, [])
    try:
        reply = session.submit(wire.OP_SYNC, wire.path_payload("/"), _decode_stat)
        peer.request()
        assert peer.conn is not None
        peer.conn.close()
        with pytest.raises(wire.WireError, match="before the answer came"):
            reply.get(5.0)
        assert session.lost.is_set()
        late = session.submit(wire.OP_SYNC, wire.path_payload("/"), _decode_stat)
        assert late.ready()  # not sent at all: failed at once, never waited for
        with pytest.raises(wire.WireError, match="not connected"):
            late.get(5.0)
    finally:
        session.close()


def test_a_server_that_answers_nothing_not_even_pings_is_taken_for_dead(monkeypatch):
    peer = Peer(session_timeout_ms=600)  # pings after 200 ms of silence, dead after 400 ms
    monkeypatch.setattr(wire_sessions.LoopSession, "KEEPER_IDLE", 0.05)
    session = _session(peer, [])
    try:
        reply = session.submit(wire.OP_SYNC, wire.path_payload("/"), _decode_stat)
        with pytest.raises(wire.WireError, match="before the answer came"):
            reply.get(5.0)  # the socket stays open, but nothing comes back
        assert session.lost.is_set()
        assert peer.request()[1] == wire.OP_SYNC  # the request, then a ping went unanswered
        assert peer.request() == (wire.PING_XID, wire.OP_PING)
    finally:
        session.close()
        peer.close()
