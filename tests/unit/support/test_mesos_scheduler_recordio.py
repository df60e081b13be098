"""tests/support/mesos_scheduler.py: RecordIO and chunked framing, event shapes, and the client
against a canned master on 127.0.0.1 that frames its stream the way docs/scheduler-http-api.md
says (records cut anywhere by chunk boundaries, several records in one chunk)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.support.mesos_scheduler import (
    ChunkedDecoder,
    ProtocolError,
    RecordIODecoder,
    Scheduler,
    SubscribeError,
    encode_chunks,
    encode_records,
    framework_info,
    parse_event,
    redirect_target,
)

SUBSCRIBED = {"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "F-1"}, "heartbeat_interval_seconds": 15}}
HEARTBEAT = {"type": "HEARTBEAT"}


def enc(*events: dict) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


# -- RecordIO -------------------------------------------------------------------------------


def test_doc_example_stream_one_record_at_a_time() -> None:
    payloads = enc(SUBSCRIBED, HEARTBEAT)
    dec = RecordIODecoder()
    assert dec.feed(encode_records(payloads)) == payloads
    assert dec.at_boundary and dec.records == 2


def test_every_split_point_gives_the_same_records() -> None:
    payloads = enc(SUBSCRIBED, {"type": "OFFERS", "offers": {"offers": []}}, HEARTBEAT)
    stream = encode_records(payloads)
    for cut in range(len(stream) + 1):
        dec = RecordIODecoder()
        got = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
        assert got == payloads, cut
        assert dec.at_boundary


def test_byte_by_byte() -> None:
    payloads = enc(SUBSCRIBED, HEARTBEAT, HEARTBEAT)
    dec = RecordIODecoder()
    got: list[bytes] = []
    for byte in encode_records(payloads):
        got += dec.feed(bytes([byte]))
    assert got == payloads


def test_length_counts_bytes_not_characters() -> None:
    payload = json.dumps({"type": "ERROR", "error": {"message": "Grüße ✓"}}, ensure_ascii=False).encode()
    assert len(payload) != len(payload.decode())
    dec = RecordIODecoder()
    assert dec.feed(encode_records([payload, payload])) == [payload, payload]


def test_record_data_may_contain_newlines_and_digits() -> None:
    payload = b'{\n "type": "HEARTBEAT"\n}\n12'
    dec = RecordIODecoder()
    assert dec.feed(str(len(payload)).encode() + b"\n" + payload + b"3\nabc") == [payload, b"abc"]


def test_partial_record_is_buffered() -> None:
    dec = RecordIODecoder()
    assert dec.feed(b"10\n01234") == []
    assert dec.buffered == 5 and not dec.at_boundary
    assert dec.feed(b"56789") == [b"0123456789"]


@pytest.mark.parametrize(
    "bad",
    [
        b"0\n",
        b"-1\n",
        b"+5\nabcde",
        b" 5\nabcde",
        b"5 \nabcde",
        b"5\r\nabcde",
        b"\n5\nabcde",
        b"x\n",
        b"1e3\n",
        b"123456789012345678901\n",
        b"99999999999999999999\n",
    ],
)
def test_bad_sizes_are_protocol_errors(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        RecordIODecoder().feed(bad)


def test_garbage_before_newline_fails_early() -> None:
    with pytest.raises(ProtocolError):
        RecordIODecoder().feed(b"HTTP/1.1 200")


def test_record_limit() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        RecordIODecoder(max_record=10).feed(b"11\n")


# -- chunked --------------------------------------------------------------------------------


def test_records_split_across_chunks_and_several_in_one_chunk() -> None:
    payloads = enc(SUBSCRIBED, HEARTBEAT, {"type": "OFFERS", "offers": {"offers": []}}, HEARTBEAT)
    stream = encode_records(payloads)
    # chunk 1 ends inside the first record's size line, chunk 2 inside its data, chunk 3 holds the
    # end of record 1 and all of records 2 and 3 and the start of 4.
    body = encode_chunks(stream, [1, 20, len(payloads[0]) + len(payloads[1]) + len(payloads[2]) - 5])
    for cut in range(len(body) + 1):
        chunks, records = ChunkedDecoder(), RecordIODecoder()
        got = records.feed(chunks.feed(body[:cut])) + records.feed(chunks.feed(body[cut:]))
        assert got == payloads, cut
        assert chunks.done and chunks.chunks == 4 and records.at_boundary


def test_chunk_extensions_and_trailers_and_upper_case_hex() -> None:
    dec = ChunkedDecoder()
    assert dec.feed(b"A;name=value\r\n0123456789\r\n0\r\nExpires: never\r\n\r\n") == b"0123456789"
    assert dec.done


@pytest.mark.parametrize(
    "bad", [b"zz\r\nab\r\n", b"2\r\nabX\r\n", b"2\nab\r\n", b"\r\n", b"-2\r\nab\r\n", b"0\r\n\r\nextra"]
)
def test_bad_chunks(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(bad)


# -- events ---------------------------------------------------------------------------------


def test_event_shapes_follow_scheduler_proto() -> None:
    assert parse_event(json.dumps(SUBSCRIBED).encode())["subscribed"]["framework_id"]["value"] == "F-1"
    update = {"type": "UPDATE", "update": {"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}}}
    assert parse_event(json.dumps(update).encode())["type"] == "UPDATE"
    # The doc's ERROR example puts "message" at the top; scheduler.proto (canonical) nests it.
    assert parse_event(b'{"type": "ERROR", "error": {"message": "no"}}')["error"]["message"] == "no"
    for bad in (
        b'{"type": "ERROR", "message": "no"}',
        b'{"type": "SUBSCRIBED", "subscribed": {}}',
        b'{"type": "UPDATE", "update": {"status": {"task_id": {"value": "t"}, "state": "RUNNING"}}}',
        b'{"type": "OFFER", "offers": {}}',
        b'{"type": "OFFERS"}',
        b'{"type": "RESCIND", "rescind": {"offer_id": {}}}',
        b"[1]",
        b"{not json",
        b"\xff",
    ):
        with pytest.raises(ProtocolError):
            parse_event(bad)


def test_redirect_targets() -> None:
    assert redirect_target("//m2:5050", "m1:5050") == "m2:5050"
    assert redirect_target("//m2:5050/api/v1/scheduler", "m1:5050") == "m2:5050"
    assert redirect_target("http://m2:5051/api/v1/scheduler", "m1:5050") == "m2:5051"
    assert redirect_target("m2:5050", "m1:5050") == "m2:5050"  # as the doc's example shows it
    with pytest.raises(ProtocolError):
        redirect_target("", "m1:5050")


# -- the client against a canned master -----------------------------------------------------


class CannedMaster:
    """Answers SUBSCRIBE with a scripted chunked stream and calls with 202 (records each request)."""

    def __init__(
        self,
        stream: Callable[[socket.socket, dict], None] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.stream = stream
        self.status = status
        self.headers = headers
        self.body = body
        self.requests: list[tuple[dict[str, str], dict]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _sep, v in (line.partition(":") for line in lines[1:])}
            while len(rest) < int(headers.get("content-length", 0)):
                rest += conn.recv(65536)
            call = json.loads(rest)
            self.requests.append((headers, call))
            if call["type"] != "SUBSCRIBE":
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                return
            if self.status != 200:
                conn.sendall(
                    f"HTTP/1.1 {self.status} X\r\n".encode()
                    + "".join(f"{k}: {v}\r\n" for k, v in (self.headers or {}).items()).encode()
                    + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
                return
            hdrs = (
                self.headers
                if self.headers is not None
                else {
                    "Content-Type": "application/json",
                    "Transfer-Encoding": "chunked",
                    "Mesos-Stream-Id": "0ea1e2a4-27c1-4f18-9b4b-0a0c7e0e6f1d",
                }
            )
            conn.sendall(b"HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()).encode() + b"\r\n")
            assert self.stream is not None
            self.stream(conn, call)
            self.release.wait(10)

    def close(self) -> None:
        self.release.set()
        self.sock.close()


@pytest.fixture
def canned() -> Iterator[Callable[..., CannedMaster]]:
    made: list[CannedMaster] = []

    def make(*args: object, **kwargs: object) -> CannedMaster:
        m = CannedMaster(*args, **kwargs)  # type: ignore[arg-type]
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


UPDATE = {
    "type": "UPDATE",
    "update": {
        "status": {
            "task_id": {"value": "t1"},
            "agent_id": {"value": "S1"},
            "state": "TASK_RUNNING",
            "uuid": "AAECAwQFBgcICQoLDA0ODw==",
        }
    },
}
RECONCILED = {
    "type": "UPDATE",
    "update": {"status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "reason": "REASON_RECONCILIATION"}},
}


def scripted(*pieces: bytes) -> Callable[[socket.socket, dict], None]:
    def send(conn: socket.socket, _call: dict) -> None:
        for piece in pieces:
            conn.sendall(piece)

    return send


def test_subscribe_stream_and_acknowledgements(canned: Callable[..., CannedMaster]) -> None:
    stream = encode_records(enc(SUBSCRIBED, HEARTBEAT, UPDATE, RECONCILED, HEARTBEAT))
    # Chunk boundaries inside the size line, inside data, and several records in one chunk.
    body = encode_chunks(stream, [2, 30, 200])[: -len(b"0\r\n\r\n")]  # the stream stays open
    master = canned(scripted(body[:7], body[7:50], body[50:]))
    sched = Scheduler([master.hostport], framework_info("unit", failover_timeout=60, checkpoint=True, roles=["r"]))
    event = sched.subscribe(timeout=5)
    assert event.type == "SUBSCRIBED" and sched.framework_id == "F-1" and sched.heartbeat_interval == 15
    assert sched.stream_id == "0ea1e2a4-27c1-4f18-9b4b-0a0c7e0e6f1d"
    sched.wait(lambda e: e.type == "HEARTBEAT" and e.index == 4, 5, "the second heartbeat")
    assert sched.heartbeats_missed(now=sched.events[4].received + 45) == pytest.approx(3.0)
    assert sched.heartbeats == 2 and [e.type for e in sched.events] == [
        "SUBSCRIBED",
        "HEARTBEAT",
        "UPDATE",
        "UPDATE",
        "HEARTBEAT",
    ]
    # The SUBSCRIBE call itself: no stream id, Accept and Content-Type JSON, exact field names.
    headers, call = master.requests[0]
    assert "mesos-stream-id" not in headers and headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert call == {
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "root",
                "name": "unit",
                "failover_timeout": 60.0,
                "checkpoint": True,
                "roles": ["r"],
                "capabilities": [{"type": "MULTI_ROLE"}],
            }
        },
    }
    # Only the update with a uuid was acknowledged, with the stream id, on another connection.
    acks = [(h, c) for h, c in master.requests if c["type"] == "ACKNOWLEDGE"]
    assert len(acks) == 1 and sched.acknowledged == [("t1", "AAECAwQFBgcICQoLDA0ODw==")]
    assert acks[0][0]["mesos-stream-id"] == sched.stream_id
    assert acks[0][1] == {
        "framework_id": {"value": "F-1"},
        "type": "ACKNOWLEDGE",
        "acknowledge": {"agent_id": {"value": "S1"}, "task_id": {"value": "t1"}, "uuid": "AAECAwQFBgcICQoLDA0ODw=="},
    }
    sched.kill("t1", "S1", grace_seconds=1.5)
    assert master.requests[-1][1]["kill"] == {
        "task_id": {"value": "t1"},
        "agent_id": {"value": "S1"},
        "kill_policy": {"grace_period": {"nanoseconds": 1_500_000_000}},
    }
    # Re-subscription after a scheduler failure carries the id in both places.
    sched.close()
    assert not sched.connected
    sched.subscribe(timeout=5)
    call = master.requests[-1][1]
    assert call["framework_id"] == {"value": "F-1"}
    assert call["subscribe"]["framework_info"]["id"] == {"value": "F-1"}
    sched.close()


def test_subscribe_follows_307_to_the_leader(canned: Callable[..., CannedMaster]) -> None:
    leader = canned(scripted(encode_chunks(encode_records(enc(SUBSCRIBED)), [])[:-5]))
    standby = canned(status=307, headers={"Location": f"//{leader.hostport}"})
    sched = Scheduler([standby.hostport], framework_info("unit"))
    sched.subscribe(timeout=5)
    assert sched.master == leader.hostport
    sched.close()


def test_refused_subscription_reports_the_text(canned: Callable[..., CannedMaster]) -> None:
    master = canned(status=400, body=b"Failed to validate scheduler::Call: Expecting 'subscribe' to be present")
    with pytest.raises(SubscribeError, match="answered 400: Failed to validate"):
        Scheduler([master.hostport], framework_info("unit")).subscribe(timeout=5)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},  # no stream id
        {"Content-Type": "application/json", "Content-Length": "100", "Mesos-Stream-Id": "x"},  # not chunked
    ],
)
def test_stream_against_the_docs_is_refused(canned: Callable[..., CannedMaster], headers: dict[str, str]) -> None:
    master = canned(scripted(b""), headers=headers)
    with pytest.raises(ProtocolError):
        Scheduler([master.hostport], framework_info("unit")).subscribe(timeout=5)


def test_bad_framing_on_the_stream_fails_the_wait(canned: Callable[..., CannedMaster]) -> None:
    first = encode_records(enc(SUBSCRIBED))
    master = canned(scripted(encode_chunks(first + b"0\n", [])[:-5]))
    sched = Scheduler([master.hostport], framework_info("unit"))
    sched.subscribe(timeout=5)
    with pytest.raises(AssertionError, match="record-size 0"):
        sched.wait(lambda e: e.type == "HEARTBEAT", 5, "a heartbeat")
    sched.close()


def test_first_event_must_be_subscribed(canned: Callable[..., CannedMaster]) -> None:
    master = canned(scripted(encode_chunks(encode_records(enc(HEARTBEAT, SUBSCRIBED)), [])[:-5]))
    with pytest.raises(ProtocolError, match="first event"):
        Scheduler([master.hostport], framework_info("unit")).subscribe(timeout=5)


def offer(oid: str, agent: str = "S1", cpus: float = 1.0) -> dict:
    return {
        "id": {"value": oid},
        "framework_id": {"value": "F-1"},
        "agent_id": {"value": agent},
        "hostname": "h",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}}],
    }


def test_offers_held_used_and_rescinded(canned: Callable[..., CannedMaster]) -> None:
    offers = {"type": "OFFERS", "offers": {"offers": [offer("O1"), offer("O2", "S2", 0.5), offer("O3")]}}
    rescind = {"type": "RESCIND", "rescind": {"offer_id": {"value": "O3"}}}
    master = canned(scripted(encode_chunks(encode_records(enc(SUBSCRIBED, offers, rescind)), [])[:-5]))
    sched = Scheduler([master.hostport], framework_info("unit"))
    sched.subscribe(timeout=5)
    sched.wait(lambda e: e.type == "RESCIND", 5, "the rescind")
    got = sched.wait_offers(5, pred=lambda o: o["agent_id"]["value"] == "S2")
    assert [o["id"]["value"] for o in got] == ["O2"]
    sched.launch(got[0], [])
    assert [o["id"]["value"] for o in sched.outstanding_offers()] == ["O1"]
    assert sched.decline_outstanding(refuse_seconds=0.5) == ["O1"]
    assert sched.outstanding_offers() == []
    decline = master.requests[-1][1]
    assert decline["decline"] == {"offer_ids": [{"value": "O1"}], "filters": {"refuse_seconds": 0.5}}
    accept = master.requests[-2][1]
    assert accept["accept"] == {
        "offer_ids": [{"value": "O2"}],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": []}}],
    }
    with pytest.raises(AssertionError, match="timed out"):
        sched.wait_offers(0.2)  # nothing usable is left
    sched.close()
