"""The v1 scheduler HTTP API of the Mesos protocol double's master, driven like a framework would.

Each test pins behaviour of upstream apache/mesos (docs/scheduler-http-api.md,
src/master/http.cpp Master::Http::scheduler, src/master/master.cpp, src/master/validation.cpp,
docs/reconciliation.md, docs/high-availability-framework-guide.md) against a master double
subprocess (standalone, in-memory registry) and agent doubles. The client below is this file's
own: a raw socket that checks the framing byte by byte (HTTP/1.1 chunked, one RecordIO record
per chunk). Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import (
    Proc,
    _leader,
    agent_args,
    get_json,
    master_args,
    procs,  # noqa: F401 - the fixture, used by name
    request,
    v1,
    wait_for,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

# test_mesos_double put the double's package on sys.path.
from mesos_double import allocator, protojson, recordio

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("MESOS_REFERENCE_DIR", "/work/shared/reference/mesos/api"))

# ------------------------------------------------------------------------------------------
# a tiny scheduler client
# ------------------------------------------------------------------------------------------


class EventStream:
    """One SUBSCRIBE connection: status, headers, and the events read by a thread."""

    def __init__(self, port: int, call: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(call).encode()
        head = {
            "Host": f"127.0.0.1:{port}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            b"POST /api/v1/scheduler HTTP/1.1\r\n"
            + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items())
            + b"\r\n"
            + body
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"connection closed before the headers: {self.buf!r}")
            self.buf += data
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _s, v in (ln.partition(":") for ln in lines[1:])}
        self.events: list[dict] = []
        self.errors: list[str] = []
        self.ended: str | None = None
        self.cond = threading.Condition()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            length = int(self.headers.get("content-length", "0"))
            while len(self.buf) < length and self._more():
                pass
            self.body = self.buf
            self.sock.close()

    @property
    def stream_id(self) -> str:
        return self.headers["mesos-stream-id"]

    def _more(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        self.buf += data
        return bool(data)

    def _read(self) -> None:
        # HTTP/1.1 chunked transfer coding; each chunk must be exactly one RecordIO record.
        try:
            while True:
                while b"\r\n" not in self.buf:
                    if not self._more():
                        self._end("connection closed")
                        return
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line, 16)
                while len(self.buf) < size + 2:
                    if not self._more():
                        self._end("connection closed inside a chunk")
                        return
                chunk, crlf, self.buf = self.buf[:size], self.buf[size : size + 2], self.buf[size + 2 :]
                if crlf != b"\r\n":
                    self.errors.append(f"chunk not followed by CRLF: {crlf!r}")
                if size == 0:
                    self._end("last chunk")
                    return
                length, newline, record = chunk.partition(b"\n")
                if not newline or not length.isdigit() or int(length) != len(record):
                    self.errors.append(f"chunk is not one RecordIO record: {chunk[:80]!r}")
                    continue
                with self.cond:
                    self.events.append(json.loads(record))
                    self.cond.notify_all()
        except Exception as exc:
            self._end(f"reader failed: {exc!r}")

    def _end(self, why: str) -> None:
        with self.cond:
            self.ended = why
            self.cond.notify_all()

    def wait(self, pred: Callable[[dict], bool], what: str, timeout: float = 20.0) -> dict:
        def found() -> dict | None:
            with self.cond:
                return next((e for e in self.events if pred(e)), None)

        return wait_for(found, timeout, what, details=lambda: f"events: {self.types()} ended: {self.ended}")

    def wait_type(self, kind: str, timeout: float = 20.0, after: int = 0) -> dict:
        def found() -> dict | None:
            with self.cond:
                return next((e for e in self.events[after:] if e["type"] == kind), None)

        return wait_for(found, timeout, kind, details=lambda: f"events: {self.types()} ended: {self.ended}")

    def types(self) -> list[str]:
        with self.cond:
            return [e["type"] for e in self.events]

    def updates(self, task_id: str) -> list[dict]:
        with self.cond:
            return [
                e["update"]["status"]
                for e in self.events
                if e["type"] == "UPDATE" and e["update"]["status"]["task_id"]["value"] == task_id
            ]

    def close(self) -> None:
        # shutdown() first: a plain close() while the reader thread sits in recv() sends no FIN.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Framework:
    """A subscribed framework: its stream plus calls carrying its id and stream id."""

    def __init__(self, port: int, info: dict | None = None, **kwargs: Any) -> None:
        self.port = port
        self.info = {"user": "nobody", "name": "test-framework", **(info or {})}
        self.stream = self.subscribe(**kwargs)

    def subscribe(self, **kwargs: Any) -> EventStream:
        call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.info, **kwargs}}
        if "id" in self.info:
            call["framework_id"] = self.info["id"]
        stream = EventStream(self.port, call)
        assert stream.status == 200, stream.body
        subscribed = stream.wait_type("SUBSCRIBED")
        self.id = subscribed["subscribed"]["framework_id"]["value"]
        self.info["id"] = {"value": self.id}
        return stream

    def call(self, kind: str, body: dict | None = None, stream_id: str | None = None) -> tuple[int, str]:
        payload: dict[str, Any] = {"type": kind, "framework_id": {"value": self.id}}
        if body is not None:
            payload[kind.lower()] = body
        return scheduler_call(self.port, payload, {"Mesos-Stream-Id": stream_id or self.stream.stream_id})

    def offers(self, after: int = 0, timeout: float = 20.0) -> list[dict]:
        return self.stream.wait_type("OFFERS", timeout, after)["offers"]["offers"]


def scheduler_call(port: int, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, _unused, body = request(
        port, "POST", "/api/v1/scheduler", data, {"Content-Type": "application/json", **(headers or {})}
    )
    return status, body.decode()


def launch(offer: dict, task_id: str, cpus: float = 0.5, mem: float = 64, **extra: Any) -> dict:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": "sleep 1000"},
        **extra,
    }
    return {"offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]}


PARTITION_AWARE = {"capabilities": [{"type": "PARTITION_AWARE"}]}

# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture
def master(procs: list[Proc], tmp_path: Path) -> Proc:  # noqa: F811 - the imported fixture
    port = free_port()
    proc = Proc("master", master_args(port, tmp_path, "--registry=in_memory")).wait_http()
    procs.append(proc)
    return proc


def start_agent(master: Proc, procs: list[Proc], work_dir: Path, *extra: str, **kwargs: Any) -> str:  # noqa: F811
    """An agent double registered with ``master``; returns its agent id."""
    port = free_port()
    agent = Proc("agent", agent_args(port, f"127.0.0.1:{master.port}", work_dir, *extra, **kwargs)).wait_http()
    procs.append(agent)

    def registered() -> str | None:
        for slave in get_json(master.port, "/master/slaves")["slaves"]:
            if slave["port"] == port:
                return str(slave["id"])
        return None

    return wait_for(registered, 15, "agent registration")


def metrics(master: Proc) -> dict:
    return get_json(master.port, "/metrics/snapshot")


# ------------------------------------------------------------------------------------------
# SUBSCRIBE, the stream, request checks
# ------------------------------------------------------------------------------------------


def test_subscribe_opens_a_recordio_stream_with_heartbeats(master: Proc) -> None:
    fw = Framework(master.port)
    stream = fw.stream
    # http.cpp: 200, the accepted content type, a stream id, chunked (Response::PIPE).
    assert stream.headers["content-type"] == "application/json"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert len(stream.stream_id) == 36
    subscribed = stream.events[0]
    assert subscribed["type"] == "SUBSCRIBED"
    master_info = v1(master.port, {"type": "GET_MASTER"})[1]["get_master"]["master_info"]
    assert subscribed["subscribed"] == {
        "framework_id": {"value": f"{master_info['id']}-0000"},
        "heartbeat_interval_seconds": 15.0,
        "master_info": master_info,
    }
    # Framework::heartbeat: the first HEARTBEAT right after SUBSCRIBED.
    stream.wait_type("HEARTBEAT")
    assert stream.types()[:2] == ["SUBSCRIBED", "HEARTBEAT"] and stream.errors == []
    # The framework is registered, active and connected; a second one gets the next id.
    state = get_json(master.port, "/master/state")
    (model,) = state["frameworks"]
    assert (model["id"], model["name"], model["user"], model["active"], model["connected"]) == (
        fw.id,
        "test-framework",
        "nobody",
        True,
        True,
    )
    assert model["role"] == "*" and model["tasks"] == [] and model["recovered"] is False
    assert state["completed_frameworks"] == [] and state["unregistered_frameworks"] == []
    assert Framework(master.port).id == f"{master_info['id']}-0001"
    m = metrics(master)
    assert (m["master/frameworks_active"], m["master/frameworks_connected"]) == (2.0, 2.0)
    frameworks = v1(master.port, {"type": "GET_FRAMEWORKS"})[1]["get_frameworks"]["frameworks"]
    assert {f["framework_info"]["id"]["value"] for f in frameworks} == {fw.id, f"{master_info['id']}-0001"}
    assert all(f["active"] and f["connected"] and "registered_time" in f for f in frameworks)


def test_heartbeats_every_15_seconds(master: Proc) -> None:
    # Framework::heartbeat: DEFAULT_HEARTBEAT_INTERVAL (15 s) between HEARTBEATs, the first at once.
    start = time.monotonic()
    fw = Framework(master.port)
    fw.stream.wait(lambda _e: fw.stream.types().count("HEARTBEAT") >= 2, "the second HEARTBEAT", timeout=30)
    assert time.monotonic() - start >= 14.5
    assert fw.stream.types()[:2] == ["SUBSCRIBED", "HEARTBEAT"] and fw.stream.errors == []


def test_request_checks_answer_as_upstream(master: Proc) -> None:
    port = master.port
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    status, headers, body = request(port, "GET", "/api/v1/scheduler")
    assert (status, headers["Allow"], body) == (405, "POST", b"Expecting one of { 'POST' }, but received 'GET'")
    assert request(port, "POST", "/api/v1/scheduler", sub)[:3:2] == (400, b"Expecting 'Content-Type' to be present")
    status, _unused, body = request(port, "POST", "/api/v1/scheduler", sub, {"Content-Type": "text/plain"})
    assert (status, body) == (415, b"Expecting 'Content-Type' of application/json or application/x-protobuf")
    status, text = scheduler_call(port, b"{nope")
    assert status == 400 and text.startswith("Failed to parse body into JSON: ")
    # stout's protobuf::parse: required fields and JSON types.
    assert scheduler_call(port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {}}}) == (
        400,
        "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user, "
        "subscribe.framework_info.name",
    )
    assert scheduler_call(port, {"type": "NOPE"}) == (
        400,
        "Failed to convert JSON into Call protobuf: Failed to find enum for 'NOPE'",
    )
    assert scheduler_call(port, {"type": "DECLINE", "framework_id": {"value": "x"}, "decline": {"offer_ids": 1}}) == (
        400,
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'offer_ids'",
    )
    # validation::scheduler::call::validate
    assert scheduler_call(port, {}) == (400, "Failed to validate scheduler::Call: Expecting 'type' to be present")
    assert scheduler_call(port, {"type": "SUBSCRIBE"}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
    )
    with_id = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "a"}}}}
    assert scheduler_call(port, with_id) == (
        400,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'",
    )
    assert scheduler_call(port, {"type": "TEARDOWN"}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
    )
    assert scheduler_call(port, {"type": "ACCEPT", "framework_id": {"value": "x"}}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'accept' to be present",
    )
    # SUBSCRIBE: Accept, and no stream id of its own.
    status, _unused, body = request(
        port, "POST", "/api/v1/scheduler", sub, {"Content-Type": "application/json", "Accept": "text/html"}
    )
    assert (status, body) == (406, b"Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
    refused = EventStream(port, sub, {"Mesos-Stream-Id": "x"})
    assert (refused.status, refused.body) == (
        400,
        b"Subscribe calls should not include the 'Mesos-Stream-Id' header",
    )
    # Other calls: the framework, then the stream id.
    assert scheduler_call(port, {"type": "REVIVE", "framework_id": {"value": "nope"}}) == (
        400,
        "Framework cannot be found",
    )
    fw = Framework(port)
    assert scheduler_call(port, {"type": "REVIVE", "framework_id": {"value": fw.id}}) == (
        400,
        "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
    )
    assert fw.call("REVIVE", stream_id="other") == (
        400,
        f"The stream ID 'other' included in this request didn't match the stream ID currently associated with "
        f"framework ID {fw.id}",
    )
    ack = {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "YWJj"}
    assert fw.call("ACKNOWLEDGE", ack) == (400, "Failed to validate scheduler::Call: Not a valid UUID")
    assert fw.call("REVIVE") == (202, "")
    # Nothing of this disturbed the framework.
    assert fw.stream.ended is None and fw.stream.errors == []


def test_chunked_request_body(master: Proc) -> None:
    # libprocess decodes chunked request bodies too: a SUBSCRIBE sent that way is a SUBSCRIBE.
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "chunky"}}})
    half = len(body) // 2
    chunks = b"".join(f"{len(part):x}\r\n{part}\r\n".encode() for part in (body[:half], body[half:])) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", master.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    wait_for(lambda: get_json(master.port, "/master/frameworks")["completed_frameworks"], 10, "the closed stream")
    assert get_json(master.port, "/master/frameworks")["completed_frameworks"][0]["name"] == "chunky"


def test_subscription_refusals_are_error_events(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # Master::subscribe refuseSubscription: 200, an ERROR event, the stream closed.
    def refused(info: dict) -> str:
        stream = EventStream(master.port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
        assert stream.status == 200
        error = stream.wait_type("ERROR")
        wait_for(lambda: stream.ended == "last chunk", 10, "the stream's end")
        return str(error["error"]["message"])

    base = {"user": "u", "name": "n"}
    assert (
        refused({**base, "role": "a", "capabilities": [{"type": "MULTI_ROLE"}]})
        == "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    )
    assert refused({**base, "roles": ["a"]}) == (
        "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    )
    assert refused({**base, "role": "-x"}) == (
        "'FrameworkInfo.role' is not a valid role: Role component '-x' is invalid because it starts with a dash"
    )
    assert refused({**base, "roles": ["a", "a"], "capabilities": [{"type": "MULTI_ROLE"}]}) == (
        "'FrameworkInfo.roles' contains duplicate items: { a }"
    )
    assert get_json(master.port, "/master/state")["frameworks"] == []
    # --no-root_submissions
    port = free_port()
    strict = Proc("master", master_args(port, tmp_path, "--registry=in_memory", "--no-root_submissions")).wait_http()
    procs.append(strict)
    stream = EventStream(port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "n"}}})
    assert stream.wait_type("ERROR")["error"]["message"] == (
        "User 'root' is not allowed to run frameworks without --root_submissions set"
    )


# ------------------------------------------------------------------------------------------
# offers
# ------------------------------------------------------------------------------------------


def test_offers_declines_suppress_and_revive(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    agent_id = start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port)
    (offer,) = fw.offers()
    slave = get_json(master.port, "/master/slaves")["slaves"][0]
    assert offer["agent_id"] == {"value": agent_id} and offer["framework_id"] == {"value": fw.id}
    assert offer["id"]["value"].startswith(
        v1(master.port, {"type": "GET_MASTER"})[1]["get_master"]["master_info"]["id"]
    )
    assert offer["hostname"] == "127.0.0.1" and offer["allocation_info"] == {"role": "*"}
    assert offer["url"] == {
        "scheme": "http",
        "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": slave["port"]},
        "path": "/slave(1)",
    }
    assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in offer["attributes"]
    by_name = {r["name"]: r for r in offer["resources"]}
    assert by_name["cpus"] == {
        "name": "cpus",
        "role": "*",
        "type": "SCALAR",
        "scalar": {"value": 2.0},
        "allocation_info": {"role": "*"},
    }
    assert by_name["ports"]["ranges"] == {"range": [{"begin": 31000, "end": 32000}]}
    assert metrics(master)["master/outstanding_offers"] == 1.0
    state = get_json(master.port, "/master/state")
    assert state["frameworks"][0]["offers"][0]["id"] == offer["id"]["value"]
    assert state["slaves"][0]["offered_resources"]["cpus"] == 2.0
    # DECLINE with a short filter: the resources come back in a new offer.
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0.5}}) == (202, "")
    (again,) = fw.offers(after=seen)
    assert again["id"] != offer["id"] and again["agent_id"] == offer["agent_id"]
    # Declining an offer twice: the second is ignored (no longer valid), nothing else happens.
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [again["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    assert fw.call("DECLINE", {"offer_ids": [again["id"]]}) == (202, "")
    wait_for(lambda: metrics(master)["master/outstanding_offers"] == 0.0, 10, "the offer to go")
    # REVIVE drops the filter: offered again.
    assert fw.call("REVIVE") == (202, "")
    (revived,) = fw.offers(after=seen)
    # SUPPRESS, then a decline without filter: no offer until REVIVE.
    assert fw.call("SUPPRESS") == (202, "")
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [revived["id"]], "filters": {"refuse_seconds": 0}}) == (202, "")
    deadline = time.monotonic() + 2.5  # two and a half allocation intervals
    while time.monotonic() < deadline:
        assert "OFFERS" not in fw.stream.types()[seen:]
        time.sleep(0.1)  # the poll interval of a negative check
    assert fw.call("REVIVE") == (202, "")
    fw.offers(after=seen)


def test_two_frameworks_both_get_offers(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # DRF: with two agents each framework gets one; a declined agent goes to the other one.
    a1 = start_agent(master, procs, tmp_path / "a1")
    first = Framework(master.port, {"name": "first"})
    (offer,) = first.offers()
    assert offer["agent_id"]["value"] == a1
    second = Framework(master.port, {"name": "second"})
    seen = len(second.stream.events)
    assert first.call("DECLINE", {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    (taken,) = second.offers(after=seen)
    assert taken["agent_id"]["value"] == a1
    a2 = start_agent(master, procs, tmp_path / "a2")
    (other,) = first.offers(after=1 + first.stream.types().index("OFFERS"))
    assert other["agent_id"]["value"] == a2


def test_offers_are_rescinded_when_the_agent_goes(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port)
    (offer,) = fw.offers()
    procs[-1].kill(15)  # SIGTERM: the agent tells its master it disconnects
    rescind = fw.stream.wait_type("RESCIND")
    assert rescind["rescind"] == {"offer_id": offer["id"]}
    assert metrics(master)["master/outstanding_offers"] == 0.0
    # ACCEPT of the rescinded offer: TASK_LOST, REASON_INVALID_OFFERS (TASK_DROPPED when partition-aware).
    assert fw.call("ACCEPT", launch(offer, "late")) == (202, "")
    (status,) = fw.stream.wait(lambda e: e["type"] == "UPDATE", "UPDATE") and fw.stream.updates("late")
    assert (status["state"], status["reason"], status["source"]) == (
        "TASK_LOST",
        "REASON_INVALID_OFFERS",
        "SOURCE_MASTER",
    )
    assert status["message"] == f"Task launched with invalid offers: Offer {offer['id']['value']} is no longer valid"
    assert "uuid" not in status
    assert metrics(master)["master/tasks_lost"] == 1.0


# ------------------------------------------------------------------------------------------
# ACCEPT validation
# ------------------------------------------------------------------------------------------


def test_accept_validates_tasks_as_upstream(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    agent_id = start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, PARTITION_AWARE)
    (offer,) = fw.offers()

    def status_of(task_id: str) -> dict:
        # The latest update about the task.
        wait_for(lambda: fw.stream.updates(task_id), 20, task_id)
        return fw.stream.updates(task_id)[-1]

    # Too many resources, a bad agent id, no command: TASK_ERROR with validation.cpp's messages.
    big = launch(offer, "big", cpus=5)
    assert fw.call("ACCEPT", big) == (202, "")
    status = status_of("big")
    assert (status["state"], status["reason"]) == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert status["message"] == (
        "Total resources cpus(allocated: *):5; mem(allocated: *):64 required by task and its executor is more than "
        "available cpus(allocated: *):2; mem(allocated: *):1024; disk(allocated: *):2048; "
        "ports(allocated: *):[31000-32000]"
    )
    assert status["agent_id"] == {"value": agent_id} and "uuid" not in status
    (offer,) = fw.offers(after=len(fw.stream.events) - 1, timeout=30)
    tasks = [
        launch(offer, "wrong-agent", agent_id={"value": "elsewhere"}),
        launch(offer, "no-command", command=None),
        launch(offer, "slash/id"),
        launch(offer, "docker-no-info", container={"type": "DOCKER"}),
    ]
    infos = [t["operations"][0]["launch"]["task_infos"][0] for t in tasks]
    del infos[1]["command"]
    both = {
        "offer_ids": [offer["id"], offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
    }
    assert fw.call("ACCEPT", both) == (202, "")
    status = status_of("wrong-agent")
    # A duplicated offer id: the whole ACCEPT is invalid; partition-aware -> TASK_DROPPED.
    assert (status["state"], status["reason"], status["message"]) == (
        "TASK_DROPPED",
        "REASON_INVALID_OFFERS",
        f"Task launched with invalid offers: Duplicate offer {offer['id']['value']} in offer list",
    )
    assert metrics(master)["master/tasks_dropped"] == 4.0
    (offer,) = fw.offers(after=len(fw.stream.events) - 1, timeout=30)
    ok = {**infos[0], "agent_id": offer["agent_id"], "task_id": {"value": "ok"}}
    for info in infos:
        info["agent_id"] = offer["agent_id"]
    infos[0]["agent_id"] = {"value": "elsewhere"}
    dup = {**ok}
    sick = {
        **ok,
        "task_id": {"value": "sick"},
        "health_check": {"type": "TCP", "tcp": {"port": 80}, "interval_seconds": -1},
    }
    env = {"variables": [{"name": "X"}]}
    no_value = {**ok, "task_id": {"value": "no-value"}, "command": {"value": "true", "environment": env}}
    accept = {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [*infos, sick, no_value, ok, dup]}}],
    }
    assert fw.call("ACCEPT", accept) == (202, "")
    wait_for(lambda: len(fw.stream.updates("docker-no-info")) == 2, 20, "the second round of updates")
    assert status_of("sick")["message"] == (
        "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative"
    )
    assert status_of("no-value")["message"] == (
        "Task's `CommandInfo` is invalid: Environment variable 'X' of type 'VALUE' must have a value set"
    )
    assert (
        status_of("wrong-agent")["message"] == f"Task uses invalid agent elsewhere while agent {agent_id} is expected"
    )
    assert status_of("no-command")["message"] == (
        "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    )
    assert status_of("slash/id")["message"] == "'slash/id' contains invalid characters"
    assert status_of("docker-no-info")["message"] == (
        "Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
    )
    # The valid task is launched (STAGING at the master), its duplicate is refused.
    wait_for(lambda: fw.stream.updates("ok"), 10, "the duplicate's TASK_ERROR")
    assert fw.stream.updates("ok")[0]["message"] == "Task has duplicate ID: ok"
    tasks_now = get_json(master.port, "/master/tasks")["tasks"]
    assert [(t["id"], t["slave_id"], t["framework_id"]) for t in tasks_now] == [("ok", agent_id, fw.id)]
    assert v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["tasks"][0]["task_id"] == {"value": "ok"}
    # /master/tasks and /master/frameworks query parameters (ReadOnlyHandler::tasks, ::frameworks).
    assert len(get_json(master.port, f"/master/tasks?framework_id={fw.id}&task_id=ok")["tasks"]) == 1
    assert get_json(master.port, "/master/tasks?task_id=nope")["tasks"] == []
    assert get_json(master.port, "/master/tasks?limit=0")["tasks"] == []
    assert get_json(master.port, "/master/tasks?offset=1")["tasks"] == []
    assert get_json(master.port, "/master/frameworks?framework_id=nope")["frameworks"] == []
    assert [f["id"] for f in get_json(master.port, f"/master/frameworks?framework_id={fw.id}")["frameworks"]] == [fw.id]
    assert metrics(master)["master/tasks_error"] == 8.0


# ------------------------------------------------------------------------------------------
# reconciliation, kill of unknown tasks
# ------------------------------------------------------------------------------------------


def test_reconciliation_of_unknown_tasks(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    agent_id = start_agent(master, procs, tmp_path / "a1")
    plain = Framework(master.port)
    aware = Framework(master.port, PARTITION_AWARE)
    tasks = [
        {"task_id": {"value": "on-agent"}, "agent_id": {"value": agent_id}},
        {"task_id": {"value": "nowhere"}},
        # Agent ids no master here ever admitted: unknown, answered at once.
        {"task_id": {"value": "odd-agent"}, "agent_id": {"value": "no-such-agent-S99"}},
        {"task_id": {"value": "other-master"}, "agent_id": {"value": f"{uuid.uuid4()}-S3"}},
    ]
    for fw, expected in ((plain, ("TASK_LOST", "TASK_LOST")), (aware, ("TASK_GONE", "TASK_UNKNOWN"))):
        assert fw.call("RECONCILE", {"tasks": tasks}) == (202, "")
        on_agent = fw.stream.wait(lambda e: e["type"] == "UPDATE", "UPDATE")["update"]["status"]
        wait_for(lambda fw=fw: fw.stream.updates("nowhere"), 10, "the second answer")
        nowhere = fw.stream.updates("nowhere")[0]
        assert (on_agent["state"], nowhere["state"]) == expected
        assert on_agent["message"] == "Reconciliation: Task is unknown to the agent"
        assert nowhere["message"] == "Reconciliation: Task is unknown"
        for status in (on_agent, nowhere):
            assert status["reason"] == "REASON_RECONCILIATION" and status["source"] == "SOURCE_MASTER"
            assert "uuid" not in status
        assert "agent_id" not in nowhere
        for task_id in ("odd-agent", "other-master"):
            wait_for(lambda fw=fw, t=task_id: fw.stream.updates(t), 10, task_id)
            assert fw.stream.updates(task_id)[0]["state"] == expected[1]
        # KILL of an unknown task is a reconciliation of it (Master::kill).
        assert fw.call("KILL", {"task_id": {"value": "ghost"}}) == (202, "")
        wait_for(lambda fw=fw: fw.stream.updates("ghost"), 10, "the kill's reconciliation")
        assert fw.stream.updates("ghost")[0]["state"] == expected[1]


# ------------------------------------------------------------------------------------------
# framework failover, removal, teardown
# ------------------------------------------------------------------------------------------


def test_framework_failover_and_removal(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, {"failover_timeout": 3600})
    fw.offers()
    # A second subscription with the same id takes over: the old stream hears it and ends.
    old = fw.stream
    fw.stream = fw.subscribe()
    assert old.wait_type("ERROR")["error"]["message"] == "Framework failed over"
    wait_for(lambda: old.ended is not None, 10, "the old stream's end")
    assert fw.stream.events[0]["subscribed"]["framework_id"] == {"value": fw.id}
    assert fw.call("REVIVE", stream_id=old.stream_id)[0] == 400
    fw.offers()  # the failed-over framework is offered again
    # The scheduler goes away: disconnected, kept for its failover_timeout.
    fw.stream.close()
    wait_for(lambda: metrics(master)["master/frameworks_disconnected"] == 1.0, 10, "disconnection")
    model = get_json(master.port, "/master/state")["frameworks"][0]
    assert (model["active"], model["connected"], model["offers"]) == (False, False, [])
    assert scheduler_call(master.port, {"type": "REVIVE", "framework_id": {"value": fw.id}}) == (
        403,
        "Framework is not subscribed",
    )
    fw.stream = fw.subscribe()
    assert metrics(master)["master/frameworks_connected"] == 1.0
    model = get_json(master.port, "/master/state")["frameworks"][0]
    assert model["id"] == fw.id and "reregistered_time" in model
    # A short failover_timeout runs out: the framework is removed and cannot come back.
    brief = Framework(master.port, {"name": "brief", "failover_timeout": 0.5})
    brief.stream.close()
    wait_for(
        lambda: [f["id"] for f in get_json(master.port, "/master/state")["completed_frameworks"]] == [brief.id],
        10,
        "removal after the failover timeout",
    )
    completed = get_json(master.port, "/master/frameworks")["completed_frameworks"][0]
    assert completed["active"] is False and completed["unregistered_time"] > 0
    stream = EventStream(
        master.port,
        {"type": "SUBSCRIBE", "framework_id": brief.info["id"], "subscribe": {"framework_info": brief.info}},
    )
    assert stream.wait_type("ERROR")["error"]["message"] == "Framework has been removed"
    # TEARDOWN: 202, the stream ends, the framework is completed.
    assert fw.call("TEARDOWN") == (202, "")
    wait_for(lambda: fw.stream.ended is not None, 10, "the stream to end")
    state = get_json(master.port, "/master/state")
    assert state["frameworks"] == [] and {f["id"] for f in state["completed_frameworks"]} == {fw.id, brief.id}
    assert metrics(master)["master/outstanding_offers"] == 0.0


def test_the_endpoint_is_also_under_master(master: Proc) -> None:
    # libprocess: the master process's own path /master/api/v1/scheduler, /api/v1/scheduler by delegation.
    call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    body = json.dumps(call).encode()
    conn = http.client.HTTPConnection("127.0.0.1", master.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/master/api/v1/scheduler",
            body,
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Mesos-Stream-Id")
        length = int(resp.readline())
        assert json.loads(resp.read(length))["type"] == "SUBSCRIBED"
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------
# master failover: frameworks re-subscribe, agents bring their tasks (channel `register`)
# ------------------------------------------------------------------------------------------


def agent_channel(master: Proc, action: str, body: dict) -> Any:
    """What an agent double sends over the double's channel (doubles/mesos/mesos_double/channel.py)."""
    status, _unused, answer = request(master.port, "POST", f"/__double__/agent/{action}", body)
    assert status == 200, (action, status, answer)
    return json.loads(answer)


def test_new_leader_learns_tasks_from_agents_and_frameworks_from_resubscription(master: Proc) -> None:
    # Master::_reregisterSlave with the agent's tasks and frameworks; recoverFramework; the
    # framework re-subscribing with its FrameworkID after a master failover (no "failed over").
    old_master = "0ld-master"
    framework_id = f"{old_master}-0000"
    agent_id = f"{old_master}-S3"
    info = {
        "user": "nobody",
        "name": "survivor",
        "id": {"value": framework_id},
        "failover_timeout": 3600.0,
        "checkpoint": True,
        **PARTITION_AWARE,
    }
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "role": "*"},
    ]
    task = {
        "name": "web",
        "task_id": {"value": "web-1"},
        "framework_id": {"value": framework_id},
        "agent_id": {"value": agent_id},
        "state": "TASK_RUNNING",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*", "allocation_info": {"role": "*"}}
        ],
        "statuses": [{"task_id": {"value": "web-1"}, "state": "TASK_RUNNING", "timestamp": 1.0}],
    }
    port = free_port()  # nothing listens there: the master's messages to this agent fail and are logged
    answer = agent_channel(
        master,
        "register",
        {
            "info": {"hostname": "127.0.0.1", "port": port, "id": {"value": agent_id}, "resources": resources},
            "pid": f"slave(1)@127.0.0.1:{port}",
            "version": "1.11.0",
            "capabilities": [],
            "incarnation": "x",
            "tasks": [task],
            "frameworks": [info],
        },
    )
    assert answer["id"] == agent_id
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["id"], model["recovered"], model["active"], model["connected"]) == (framework_id, True, False, False)
    assert [(t["id"], t["state"], t["slave_id"]) for t in model["tasks"]] == [("web-1", "TASK_RUNNING", agent_id)]
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/cpus_used"], m["master/frameworks_disconnected"]) == (1.0, 0.5, 1.0)
    # The framework comes back with its id: SUBSCRIBED, the same id, its task with it.
    fw = Framework(master.port, dict(info))
    assert fw.id == framework_id and fw.stream.types().count("ERROR") == 0
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["recovered"], model["active"], model["connected"]) == (False, True, True)
    # Implicit reconciliation: the latest state of every task, from the master.
    assert fw.call("RECONCILE", {"tasks": []}) == (202, "")
    wait_for(lambda: fw.stream.updates("web-1"), 10, "implicit reconciliation")
    (status,) = fw.stream.updates("web-1")
    assert (status["state"], status["reason"], status["agent_id"]["value"]) == (
        "TASK_RUNNING",
        "REASON_RECONCILIATION",
        agent_id,
    )
    assert status["message"] == "Reconciliation: Latest task state" and "uuid" not in status
    # Explicit: a task on an agent of the old master that has not re-registered yet gets no
    # answer (reconciliation.md: retry later); unknown on a registered agent: TASK_GONE.
    tasks = [
        {"task_id": {"value": "elsewhere"}, "agent_id": {"value": f"{old_master}-S9"}},
        {"task_id": {"value": "gone"}, "agent_id": {"value": agent_id}},
    ]
    assert fw.call("RECONCILE", {"tasks": tasks}) == (202, "")
    wait_for(lambda: fw.stream.updates("gone"), 10, "the explicit answer")
    assert fw.stream.updates("gone")[0]["state"] == "TASK_GONE"
    assert fw.stream.updates("elsewhere") == []  # answered in order: none was sent
    # A status update from the agent is forwarded with its uuid; the acknowledgement of the
    # terminal one completes the task.
    uuid = "8Zf4FG3nSXq5a6J0u0Xq2A=="
    finished = {
        "task_id": {"value": "web-1"},
        "state": "TASK_FINISHED",
        "source": "SOURCE_EXECUTOR",
        "uuid": uuid,
        "timestamp": time.time(),
    }
    agent_channel(master, "status_update", {"id": agent_id, "update": {"framework_id": info["id"], "status": finished}})
    wait_for(lambda: len(fw.stream.updates("web-1")) == 2, 10, "the forwarded update")
    forwarded = fw.stream.updates("web-1")[-1]
    assert (forwarded["state"], forwarded["uuid"], forwarded["agent_id"]) == (
        "TASK_FINISHED",
        uuid,
        {"value": agent_id},
    )
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"][0]["state"] == "TASK_FINISHED"
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/tasks_finished"], m["master/cpus_used"]) == (0.0, 1.0, 0.0)
    ack = {"agent_id": {"value": agent_id}, "task_id": {"value": "web-1"}, "uuid": uuid}
    assert fw.call("ACKNOWLEDGE", ack) == (202, "")
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and [t["id"] for t in model["completed_tasks"]] == ["web-1"]
    got = v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]
    assert "tasks" not in got and got["completed_tasks"][0]["status_update_uuid"] == uuid


def register_fake_agent(master: Proc, agent_id: str, tasks: list[dict], frameworks: list[dict]) -> None:
    port = free_port()  # nothing listens there: the master's messages to this agent fail and are logged
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "role": "*"},
    ]
    agent_channel(
        master,
        "register",
        {
            "info": {"hostname": "127.0.0.1", "port": port, "id": {"value": agent_id}, "resources": resources},
            "pid": f"slave(1)@127.0.0.1:{port}",
            "version": "1.11.0",
            "capabilities": [],
            "incarnation": "x",
            "tasks": tasks,
            "frameworks": frameworks,
        },
    )


def test_agent_removal_fails_its_tasks_and_tells_frameworks(master: Proc) -> None:
    # _removeSlave (here: its machine brought DOWN): TASK_LOST "Agent <host> removed: <cause>",
    # REASON_SLAVE_REMOVED, and sendSlaveLost's FAILURE event to every connected framework.
    fw = Framework(master.port, {"failover_timeout": 60.0})
    agent_id = "0ld-master-S1"
    task = {
        "name": "db",
        "task_id": {"value": "db-1"},
        "framework_id": {"value": fw.id},
        "agent_id": {"value": agent_id},
        "state": "TASK_RUNNING",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"}],
    }
    register_fake_agent(master, agent_id, [task], [fw.info])
    assert metrics(master)["master/tasks_running"] == 1.0
    schedule = {
        "windows": [
            {
                "machine_ids": [{"hostname": "127.0.0.1", "ip": "127.0.0.1"}],
                "unavailability": {"start": {"nanoseconds": 1}},
            }
        ]
    }
    assert request(master.port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert request(master.port, "POST", "/master/machine/down", schedule["windows"][0]["machine_ids"])[0] == 200
    failure = fw.stream.wait_type("FAILURE")
    assert failure["failure"] == {"agent_id": {"value": agent_id}}
    wait_for(lambda: fw.stream.updates("db-1"), 10, "the lost task's update")
    (status,) = fw.stream.updates("db-1")
    assert (status["state"], status["reason"], status["source"], status["message"]) == (
        "TASK_LOST",
        "REASON_SLAVE_REMOVED",
        "SOURCE_MASTER",
        "Agent 127.0.0.1 removed: Operator initiated 'Machine DOWN'",
    )
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/tasks_lost"], m["master/cpus_used"]) == (0.0, 1.0, 0.0)
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and model["completed_tasks"][0]["state"] == "TASK_LOST"


def test_operator_teardown(master: Proc) -> None:
    # Master::Http::teardown (POST /master/teardown, form body) and the v1 TEARDOWN call.
    first, second = Framework(master.port), Framework(master.port)

    def teardown(body: bytes) -> tuple[int, bytes]:
        status, _unused, text = request(
            master.port,
            "POST",
            "/master/teardown",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, text

    assert teardown(b"other=1") == (400, b"Missing 'frameworkId' query parameter in the request body")
    assert teardown(b"frameworkId=nope") == (400, b"No framework found with specified ID")
    assert request(master.port, "GET", "/master/teardown")[0] == 405
    assert teardown(f"frameworkId={first.id}".encode()) == (200, b"")
    wait_for(lambda: first.stream.ended is not None, 10, "the stream's end")
    assert v1(master.port, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": second.id}}})[0] == 200
    wait_for(lambda: second.stream.ended is not None, 10, "the second stream's end")
    state = get_json(master.port, "/master/state")
    assert state["frameworks"] == [] and {f["id"] for f in state["completed_frameworks"]} == {first.id, second.id}


def test_high_availability_redirects_and_master_failover(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # docs/high-availability-framework-guide.md: a non-leader answers 307 to the leader; after the
    # leader dies the framework subscribes to the new one with its FrameworkID and carries on.
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    for port in ports:
        args = master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=1", "--zk_session_timeout=2secs")
        procs.append(Proc("master", args).wait_http())
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    follower = next(p for p in ports if p != leader)
    wait_for(lambda: request(follower, "GET", "/master/redirect")[0] == 307, 10, "the follower to see the leader")
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "ha", "failover_timeout": 3600}}}
    status, headers, _unused = request(
        follower, "POST", "/api/v1/scheduler", sub, {"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert (status, headers["Location"]) == (307, f"//127.0.0.1:{leader}/api/v1/scheduler")
    wait_for(lambda: metrics_of(leader)["registrar/log/recovered"] == 1.0, 10, "the registry to recover")
    aport = free_port()
    agent = Proc("agent", agent_args(aport, zk_url, tmp_path / "ha-agent", "--zk_session_timeout=2secs")).wait_http()
    procs.append(agent)
    fw = Framework(leader, {"name": "ha", "failover_timeout": 3600})
    (offer,) = fw.offers()
    # The leader dies: the stream breaks; the framework finds the new leader and re-subscribes
    # with its FrameworkID (the new master has never seen it: recoverFramework).
    next(p for p in procs if p.port == leader).kill()
    wait_for(lambda: fw.stream.ended is not None, 10, "the stream to break")
    new_leader = wait_for(lambda: _leader([follower]), 30, "the new leader")
    wait_for(lambda: metrics_of(new_leader)["registrar/log/recovered"] == 1.0, 10, "the new registry")
    fw.port = new_leader
    fw.stream = fw.subscribe()
    assert fw.stream.events[0]["subscribed"]["framework_id"] == {"value": fw.id}
    assert fw.stream.types().count("ERROR") == 0
    (again,) = fw.offers(timeout=30)  # once the agent has re-registered with the new leader
    assert again["agent_id"] == offer["agent_id"] and again["id"] != offer["id"]
    (model,) = get_json(new_leader, "/master/state")["frameworks"]
    assert (model["id"], model["active"], model["connected"]) == (fw.id, True, True)
    # A master elected without a recovered registry answers 503 (quorum 2, alone).
    port = free_port()
    lonely_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    lonely = Proc("master", master_args(port, tmp_path, f"--zk={lonely_url}", "--quorum=2")).wait_http()
    procs.append(lonely)
    wait_for(lambda: _leader([port]), 20, "the lonely master's election")
    assert scheduler_call(port, sub) == (503, "Master has not finished recovery")


def metrics_of(port: int) -> dict:
    return get_json(port, "/metrics/snapshot")


def test_unreachable_agent_tasks_are_unreachable_or_lost(procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # SlaveObserver's health check fails -> markUnreachable -> __removeSlave: partition-aware
    # frameworks see TASK_UNREACHABLE (with unreachable_time), the others TASK_LOST; both
    # REASON_SLAVE_REMOVED; reconciliation then answers TASK_UNREACHABLE / TASK_LOST.
    port = free_port()
    args = master_args(
        port, tmp_path, "--registry=in_memory", "--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=1"
    )
    master = Proc("master", args).wait_http()
    procs.append(master)
    aware = Framework(port, {"name": "aware", "failover_timeout": 60.0, **PARTITION_AWARE})
    plain = Framework(port, {"name": "plain", "failover_timeout": 60.0})
    agent_id = "0ld-master-S7"

    def task(fw: Framework, task_id: str) -> dict:
        return {
            "name": task_id,
            "task_id": {"value": task_id},
            "framework_id": {"value": fw.id},
            "agent_id": {"value": agent_id},
            "state": "TASK_RUNNING",
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"}],
        }

    register_fake_agent(master, agent_id, [task(aware, "a-1"), task(plain, "p-1")], [aware.info, plain.info])
    # The fake agent never pings.
    wait_for(lambda: aware.stream.updates("a-1"), 15, "unreachability")
    (a_status,) = aware.stream.updates("a-1")
    wait_for(lambda: plain.stream.updates("p-1"), 10, "the other framework's update")
    (p_status,) = plain.stream.updates("p-1")
    assert (a_status["state"], a_status["reason"]) == ("TASK_UNREACHABLE", "REASON_SLAVE_REMOVED")
    assert (p_status["state"], p_status["reason"]) == ("TASK_LOST", "REASON_SLAVE_REMOVED")
    assert a_status["unreachable_time"]["nanoseconds"] > 0
    assert aware.stream.wait_type("FAILURE")["failure"] == {"agent_id": {"value": agent_id}}
    frameworks = {f["name"]: f for f in get_json(port, "/master/state")["frameworks"]}
    assert [t["id"] for t in frameworks["aware"]["unreachable_tasks"]] == ["a-1"]
    assert frameworks["aware"]["tasks"] == [] and frameworks["plain"]["completed_tasks"][0]["id"] == "p-1"
    m = metrics(master)
    assert (m["master/tasks_unreachable"], m["master/tasks_lost"], m["master/tasks_running"]) == (1.0, 1.0, 0.0)
    # Reconciliation of a task on the unreachable agent that the master does not know.
    ask = [{"task_id": {"value": "other"}, "agent_id": {"value": agent_id}}]
    for fw, state in ((aware, "TASK_UNREACHABLE"), (plain, "TASK_LOST")):
        assert fw.call("RECONCILE", {"tasks": ask}) == (202, "")
        wait_for(lambda fw=fw: fw.stream.updates("other"), 10, "the answer")
        (status,) = fw.stream.updates("other")
        assert (status["state"], status["message"]) == (state, "Reconciliation: Task is unreachable")
        assert status["unreachable_time"] == a_status["unreachable_time"]
    # Unreachable tasks are not the framework's tasks any more (Framework::getTask): implicit
    # reconciliation leaves them out, explicit reconciliation answers from the agent's state.
    assert aware.call("RECONCILE", {"tasks": [{"task_id": {"value": "a-1"}, "agent_id": {"value": agent_id}}]}) == (
        202,
        "",
    )
    wait_for(lambda: len(aware.stream.updates("a-1")) == 2, 10, "explicit reconciliation")
    status = aware.stream.updates("a-1")[-1]
    assert (status["state"], status["message"]) == ("TASK_UNREACHABLE", "Reconciliation: Task is unreachable")


# ------------------------------------------------------------------------------------------
# end to end: a DOCKER task through master and agent doubles on the host's real engine
# ------------------------------------------------------------------------------------------

IMAGE = "orchestrator-platform/task-busybox:1"  # tools/build-task-image
RUN_ID = uuid.uuid4().hex[:12]
LABEL = f"orchestrator-platform.test-run={RUN_ID}"


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def task_image() -> Iterator[str]:
    builder = REPO / "tools" / "build-task-image"
    if builder.exists():
        res = subprocess.run([str(builder)], capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, f"tools/build-task-image failed:\n{res.stdout}\n{res.stderr}"
    assert docker("image", "inspect", IMAGE).returncode == 0, f"the task image {IMAGE} is missing"
    yield IMAGE
    # Only the containers this test run labelled.
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        docker("rm", "-f", *ids)


def docker_launch(offer: dict, task_id: str, image: str) -> dict:
    container = {
        "type": "DOCKER",
        "docker": {"image": image, "network": "HOST", "parameters": [{"key": "label", "value": LABEL}]},
    }
    accept = launch(offer, task_id, cpus=0.5, mem=64, container=container)
    accept["operations"][0]["launch"]["task_infos"][0]["command"] = {"shell": True, "value": "exec sleep 1000"}
    return accept


def acknowledge_through(fw: Framework, task_id: str, state: str, timeout: float = 60) -> dict:
    """ACKNOWLEDGE each update of the task that carries a uuid, in order, until one in ``state``."""
    acked: set[str] = set()

    def step() -> dict | None:
        for status in fw.stream.updates(task_id):
            if status.get("uuid") and status["uuid"] not in acked:
                ack = {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}
                assert fw.call("ACKNOWLEDGE", ack) == (202, "")
                acked.add(status["uuid"])
            if status["state"] == state:
                return status
        return None

    return wait_for(step, timeout, f"{state} for {task_id}", details=lambda: str(fw.stream.updates(task_id)))


def container_running(status: dict) -> bool:
    name = f"mesos-{status['container_status']['container_id']['value']}"
    res = docker("inspect", "--format", "{{.State.Running}}", name)
    return res.stdout.strip() == "true"


def test_docker_task_lifecycle_through_the_master(
    task_image: str,
    master: Proc,
    procs: list[Proc],  # noqa: F811
    tmp_path: Path,
) -> None:
    agent_id = start_agent(master, procs, tmp_path / "a1", "--containerizers=docker,mesos")
    capabilities = {"capabilities": [{"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}]}
    fw = Framework(master.port, {"name": "e2e", "checkpoint": True, "failover_timeout": 3600.0, **capabilities})
    (offer,) = fw.offers()
    assert fw.call("ACCEPT", docker_launch(offer, "sleeper", task_image)) == (202, "")
    assert [t["state"] for t in get_json(master.port, "/master/tasks")["tasks"]] in (
        ["TASK_STAGING"],
        ["TASK_STARTING"],
        ["TASK_RUNNING"],
    )
    running = acknowledge_through(fw, "sleeper", "TASK_RUNNING")
    assert running["source"] == "SOURCE_EXECUTOR" and running["agent_id"] == {"value": agent_id}
    assert container_running(running)
    # The master's view: the task, its statuses, used resources, metrics.
    wait_for(
        lambda: get_json(master.port, "/master/tasks")["tasks"][0]["state"] == "TASK_RUNNING",
        10,
        "RUNNING at the master",
    )
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/cpus_used"], m["master/mem_used"]) == (1.0, 0.5, 64.0)
    slave = get_json(master.port, "/master/slaves")["slaves"][0]
    assert (slave["used_resources"]["cpus"], slave["used_resources"]["mem"]) == (0.5, 64.0)
    summary = get_json(master.port, "/master/state-summary")
    (fw_summary,) = summary["frameworks"]
    assert (fw_summary["id"], fw_summary["TASK_RUNNING"], fw_summary["slave_ids"]) == (fw.id, 1, [agent_id])
    assert "tasks" not in fw_summary and "used_resources" in fw_summary
    (slave_summary,) = summary["slaves"]
    assert (slave_summary["TASK_RUNNING"], slave_summary["framework_ids"]) == (1, [fw.id])
    got = v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["tasks"][0]
    assert (got["state"], got["status_update_state"], got["status_update_uuid"]) == (
        "TASK_RUNNING",
        "TASK_RUNNING",
        running["uuid"],
    )
    assert got["container"]["docker"]["image"] == task_image
    # GET_STATE against upstream's example: every field it shows, with the same JSON types.
    example = REFERENCE / "GET_STATE.json"
    if example.exists():
        ref = json.loads(example.read_text())["response"]["body"]["get_state"]
        state = v1(master.port, {"type": "GET_STATE"})[1]["get_state"]
        ref_fw, got_fw = ref["get_frameworks"]["frameworks"][0], state["get_frameworks"]["frameworks"][0]
        assert {k: type(v) for k, v in ref_fw.items()} == {k: type(got_fw[k]) for k in ref_fw}
        # (principal and hostname are what that example's framework gave; this one gives neither)
        assert set(ref_fw["framework_info"]) - {"principal", "hostname"} <= set(got_fw["framework_info"])
        ref_task, got_task = ref["get_tasks"]["completed_tasks"][0], state["get_tasks"]["tasks"][0]
        shown = set(ref_task) - {"executor_id"}  # a command task has no ExecutorInfo at the master
        assert {k: type(ref_task[k]) for k in shown} == {k: type(got_task[k]) for k in shown}
        assert set(ref_task["statuses"][0]) <= set(got_task["statuses"][-1])
    # What is left of the agent is offered again (after the ACCEPT's 5 s filter).
    (rest,) = fw.offers(after=fw.stream.types().index("OFFERS") + 1, timeout=30)
    assert {r["name"]: r.get("scalar", {}).get("value") for r in rest["resources"]}["cpus"] == 1.5
    assert fw.call("DECLINE", {"offer_ids": [rest["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    # The scheduler fails and comes back: the task ran on; implicit reconciliation says so.
    fw.stream.close()
    wait_for(lambda: metrics(master)["master/frameworks_disconnected"] == 1.0, 10, "disconnection")
    assert container_running(running)
    fw.stream = fw.subscribe()
    assert fw.call("RECONCILE", {}) == (202, "")
    wait_for(lambda: fw.stream.updates("sleeper"), 10, "reconciliation")
    assert fw.stream.updates("sleeper")[0]["state"] == "TASK_RUNNING"
    # KILL: KILLING, then KILLED; acknowledged, the task is completed at the master.
    assert fw.call("KILL", {"task_id": {"value": "sleeper"}, "agent_id": {"value": agent_id}}) == (202, "")
    killed = acknowledge_through(fw, "sleeper", "TASK_KILLED")
    assert "TASK_KILLING" in [s["state"] for s in fw.stream.updates("sleeper")]
    wait_for(lambda: not container_running(running), 30, "the container to stop")
    wait_for(
        lambda: get_json(master.port, "/master/state")["frameworks"][0]["completed_tasks"], 10, "the completed task"
    )
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and model["completed_tasks"][0]["state"] == "TASK_KILLED"
    m = metrics(master)
    assert (m["master/tasks_killed"], m["master/tasks_running"], m["master/cpus_used"]) == (1.0, 0.0, 0.0)
    assert (
        killed["uuid"]
        == v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["completed_tasks"][0]["status_update_uuid"]
    )
    # TEARDOWN of a framework with a running task: the agent shuts the framework down.
    # The freed resources are not covered by the decline's filter: offered again (this stream's
    # first OFFERS: while the task ran, the filter held the rest back).
    assert fw.call("REVIVE") == (202, "")
    (offer,) = fw.offers(timeout=30)
    assert fw.call("ACCEPT", docker_launch(offer, "doomed", task_image)) == (202, "")
    doomed = acknowledge_through(fw, "doomed", "TASK_RUNNING")
    assert fw.call("TEARDOWN") == (202, "")
    wait_for(lambda: not container_running(doomed), 60, "the torn-down framework's container to stop")
    (completed,) = get_json(master.port, "/master/state")["completed_frameworks"]
    assert {t["id"]: t["state"] for t in completed["completed_tasks"]} == {
        "sleeper": "TASK_KILLED",
        "doomed": "TASK_KILLED",
    }


def test_master_failover_keeps_running_tasks(
    task_image: str,
    zk_ensemble: Any,
    procs: list[Proc],  # noqa: F811
    tmp_path: Path,
) -> None:
    # docs/high-availability-framework-guide.md: the new leader learns the task from the agent's
    # re-registration (the framework shows up `recovered` until it re-subscribes), the
    # framework re-subscribes with its FrameworkID and reconciles; the task never stopped.
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    for port in ports:
        args = master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=1", "--zk_session_timeout=2secs")
        procs.append(Proc("master", args).wait_http())
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    follower = next(p for p in ports if p != leader)
    wait_for(lambda: metrics_of(leader)["registrar/log/recovered"] == 1.0, 10, "the registry to recover")
    aport = free_port()
    extra = ("--zk_session_timeout=2secs", "--containerizers=docker,mesos")
    procs.append(Proc("agent", agent_args(aport, zk_url, tmp_path / "ha-agent", *extra)).wait_http())
    info = {"name": "survivor", "checkpoint": True, "failover_timeout": 3600.0, **PARTITION_AWARE}
    fw = Framework(leader, info)
    (offer,) = fw.offers()
    assert fw.call("ACCEPT", docker_launch(offer, "keep", task_image)) == (202, "")
    running = acknowledge_through(fw, "keep", "TASK_RUNNING")
    next(p for p in procs if p.port == leader).kill()
    new_leader = wait_for(lambda: _leader([follower]), 30, "the new leader")

    def recovered() -> dict | None:
        frameworks = get_json(new_leader, "/master/state")["frameworks"]
        return frameworks[0] if frameworks and frameworks[0]["tasks"] else None

    model = wait_for(recovered, 30, "the agent's tasks at the new leader")
    assert (model["id"], model["recovered"], model["connected"]) == (fw.id, True, False)
    assert [(t["id"], t["state"]) for t in model["tasks"]] == [("keep", "TASK_RUNNING")]
    assert metrics_of(new_leader)["master/tasks_running"] == 1.0
    fw.port = new_leader
    fw.stream = fw.subscribe()
    assert fw.call("RECONCILE", {"tasks": [{"task_id": {"value": "keep"}}]}) == (202, "")
    wait_for(lambda: fw.stream.updates("keep"), 10, "reconciliation")
    status = fw.stream.updates("keep")[0]
    assert (status["state"], status["reason"]) == ("TASK_RUNNING", "REASON_RECONCILIATION")
    assert container_running(running)
    (model,) = get_json(new_leader, "/master/state")["frameworks"]
    assert (model["recovered"], model["active"], model["connected"]) == (False, True, True)
    # The new leader can kill it: the agent is its agent now.
    assert fw.call("KILL", {"task_id": {"value": "keep"}}) == (202, "")
    acknowledge_through(fw, "keep", "TASK_KILLED")
    wait_for(lambda: not container_running(running), 30, "the container to stop")


def test_update_framework(master: Proc, procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # Master::updateFramework: 200 OK or 400 with upstream's prefixes; a role the framework left
    # loses its offers (RESCIND).
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, {"name": "before"})
    (offer,) = fw.offers()

    def update(info: dict, **extra: Any) -> tuple[int, str]:
        return fw.call("UPDATE_FRAMEWORK", {"framework_info": {**fw.info, **info}, **extra})

    assert fw.call("UPDATE_FRAMEWORK", {"framework_info": {**fw.info, "id": {"value": "other"}}}) == (
        400,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'update_framework.framework_info.id'",
    )
    assert update({"user": "root"}) == (
        400,
        "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; attempted to update "
        "from 'nobody' to 'root'",
    )
    assert update({"role": "-bad"}) == (
        400,
        "Supplied FrameworkInfo is not valid: 'FrameworkInfo.role' is not a valid role: Role component '-bad' is "
        "invalid because it starts with a dash",
    )
    assert update({}, suppressed_roles=["web"]) == (
        400,
        "'UpdateFramework' call is not valid: Suppressed roles { web } are not contained in the set of roles",
    )
    assert update({"name": "after", "role": "web"}) == (200, "")
    assert fw.stream.wait_type("RESCIND")["rescind"] == {"offer_id": offer["id"]}
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["name"], model["role"]) == ("after", "web")
    (again,) = fw.offers(after=fw.stream.types().index("RESCIND"))
    assert again["allocation_info"] == {"role": "web"}
    assert {r["allocation_info"]["role"] for r in again["resources"]} == {"web"}


def test_offer_timeout_and_role_whitelist(procs: list[Proc], tmp_path: Path) -> None:  # noqa: F811
    # --offer_timeout rescinds offers held too long; --roles (deprecated whitelist) refuses others.
    port = free_port()
    args = master_args(port, tmp_path, "--registry=in_memory", "--offer_timeout=1secs", "--roles=web")
    master = Proc("master", args).wait_http()
    procs.append(master)
    stream = EventStream(
        port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "role": "db"}}}
    )
    assert stream.wait_type("ERROR")["error"]["message"] == "Roles { db } are not present in the master's --roles"
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(port, {"role": "web"})
    (offer,) = fw.offers()
    assert offer["allocation_info"] == {"role": "web"}
    assert fw.stream.wait_type("RESCIND")["rescind"] == {"offer_id": offer["id"]}
    (again,) = fw.offers(after=fw.stream.types().index("RESCIND"))
    assert again["id"] != offer["id"]


# ------------------------------------------------------------------------------------------
# units: resource arithmetic, RecordIO, stout's JSON -> protobuf checks
# ------------------------------------------------------------------------------------------


def test_resource_arithmetic_and_text() -> None:
    def res(name: str, value: Any) -> dict:
        if isinstance(value, list):
            return {"name": name, "type": "RANGES", "ranges": {"range": [{"begin": b, "end": e} for b, e in value]}}
        return {"name": name, "type": "SCALAR", "scalar": {"value": value}}

    total = allocator.Bag([res("cpus", 2), res("mem", 1024), res("ports", [(31000, 32000)])])
    used = allocator.Bag([res("cpus", 0.1), res("cpus", 0.2), res("ports", [(31000, 31000), (31500, 31600)])])
    left = total - used
    assert left.scalar("cpus") == 1.7  # fixed point, three decimals
    assert {r["name"]: r.get("ranges") for r in left.to_list()}["ports"] == {
        "range": [{"begin": 31001, "end": 31499}, {"begin": 31601, "end": 32000}]
    }
    assert total.contains(used) and not left.contains(used)
    assert allocator.Bag([res("ports", [(31000, 31001)])]).contains(allocator.Bag([res("ports", [(31001, 31001)])]))
    assert allocator.stringify(left.to_list("*")) == (
        "cpus(allocated: *):1.7; mem(allocated: *):1024; ports(allocated: *):[31001-31499, 31601-32000]"
    )
    reserved = allocator.Bag([{**res("cpus", 1), "role": "web"}, res("mem", 64)])
    assert reserved.for_role("db").scalar("cpus") == 0 and reserved.for_role("web").scalar("cpus") == 1
    assert allocator.refuse_seconds({"refuse_seconds": -3}) == 5.0
    assert allocator.refuse_seconds({"refuse_seconds": 1e12}) == 365 * 86400
    assert allocator.refuse_seconds(None) == 5.0
    # RecordIO: "<length>\n<bytes>", decoded across arbitrary splits.
    data = recordio.encode({"type": "HEARTBEAT"}) + recordio.encode({"type": "UPDATE", "x": "é"})
    decoder = recordio.Decoder()
    records = [r for i in range(len(data)) for r in decoder.decode(data[i : i + 1])]
    assert [json.loads(r)["type"] for r in records] == ["HEARTBEAT", "UPDATE"]
    assert data.startswith(b'20\n{"type":"HEARTBEAT"}')
    # stout's protobuf::parse texts.
    assert protojson.parse_call([]) == "Expecting a JSON object"
    assert protojson.parse_call({"type": "KILL", "kill": {"task_id": {}}}) == (
        "Missing required fields: kill.task_id.value"
    )
    launch_call = {"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [{}]}}]}}
    assert protojson.parse_call(launch_call) == (
        "Missing required fields: accept.operations[0].launch.task_infos[0].name, "
        "accept.operations[0].launch.task_infos[0].task_id, accept.operations[0].launch.task_infos[0].agent_id"
    )
    assert protojson.parse_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": 1}}}) == (
        "Not expecting a JSON number for field 'user'"
    )


# ------------------------------------------------------------------------------------------
# what the master sends an agent over the double's channel (channel.py)
# ------------------------------------------------------------------------------------------


class FakeAgent:
    """An agent on the double's channel that records the master's messages and answers {}."""

    def __init__(self, master: Proc, agent_id: str) -> None:
        self.master = master
        self.agent_id = agent_id
        self.messages: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.messages.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def register(self, tasks: list[dict], frameworks: list[dict]) -> None:
        resources = [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "role": "*"},
        ]
        info = {"hostname": "127.0.0.1", "port": self.port, "id": {"value": self.agent_id}, "resources": resources}
        body = {"info": info, "pid": f"slave(1)@127.0.0.1:{self.port}", "version": "1.11.0", "incarnation": "y"}
        agent_channel(self.master, "register", {**body, "capabilities": [], "tasks": tasks, "frameworks": frameworks})

    def wait(self, action: str, count: int = 1) -> list[dict]:
        def got() -> list[dict] | None:
            found = [b for p, b in self.messages if p == f"/__double__/master/{action}"]
            return found if len(found) >= count else None

        return wait_for(got, 10, action, details=lambda: str(self.messages))

    def close(self) -> None:
        self.server.shutdown()


def test_channel_messages_to_the_agent(master: Proc) -> None:
    fw = Framework(master.port, {"failover_timeout": 60.0, "checkpoint": True})
    agent = FakeAgent(master, "0ld-master-S5")
    try:
        agent.register([], [])
        (offer,) = fw.offers()
        kill_policy = {"grace_period": {"nanoseconds": 2000000000}}
        accept = launch(offer, "t1", kill_policy=kill_policy, labels={"labels": [{"key": "k", "value": "v"}]})
        assert fw.call("ACCEPT", accept) == (202, "")
        # RunTaskMessage: the framework (with its id) and the TaskInfo, resources allocated to the role.
        (run,) = agent.wait("run_task")
        assert run["master_id"] == get_json(master.port, "/master/state")["id"]
        assert run["framework"]["id"] == {"value": fw.id} and run["framework"]["name"] == "test-framework"
        task = run["task"]
        assert task["task_id"] == {"value": "t1"} and task["agent_id"] == {"value": agent.agent_id}
        assert task["kill_policy"] == kill_policy and task["labels"]["labels"] == [{"key": "k", "value": "v"}]
        assert {r["name"]: r["allocation_info"] for r in task["resources"]} == {
            "cpus": {"role": "*"},
            "mem": {"role": "*"},
        }
        # The agent's updates, forwarded; ACKNOWLEDGE goes back to the agent.
        uuid_running = "Ax5kQ2X9TdK0m1b3c4d5eA=="  # 16 bytes, a version-4 UUID
        status = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR"}
        update = {"framework_id": {"value": fw.id}, "status": {**status, "uuid": uuid_running}}
        agent_channel(master, "status_update", {"id": agent.agent_id, "update": update})
        wait_for(lambda: fw.stream.updates("t1"), 10, "the forwarded update")
        ack = {"agent_id": {"value": agent.agent_id}, "task_id": {"value": "t1"}, "uuid": uuid_running}
        assert fw.call("ACKNOWLEDGE", ack) == (202, "")
        (acked,) = agent.wait("acknowledge")
        assert {k: acked[k] for k in ("framework_id", "task_id", "uuid")} == {
            "framework_id": {"value": fw.id},
            "task_id": {"value": "t1"},
            "uuid": uuid_running,
        }
        # KILL with a kill policy: KillTaskMessage.
        override = {"grace_period": {"nanoseconds": 1}}
        assert fw.call("KILL", {"task_id": {"value": "t1"}, "kill_policy": override}) == (202, "")
        (kill,) = agent.wait("kill_task")
        assert (kill["framework_id"], kill["task_id"], kill["kill_policy"]) == (
            {"value": fw.id},
            {"value": "t1"},
            override,
        )
        # A kill the agent misses while disconnected goes out again when it re-registers.
        agent_channel(master, "disconnect", {"id": agent.agent_id})
        assert fw.call("KILL", {"task_id": {"value": "t1"}}) == (202, "")
        running = {"framework_id": {"value": fw.id}, "task_id": {"value": "t1"}, "name": "t1", "state": "TASK_RUNNING"}
        agent.register([{**running, "agent_id": {"value": agent.agent_id}, "resources": []}], [fw.info])
        kills = agent.wait("kill_task", 2)
        assert kills[-1]["task_id"] == {"value": "t1"} and "kill_policy" not in kills[-1]
        # TEARDOWN: ShutdownFrameworkMessage to every agent.
        assert fw.call("TEARDOWN") == (202, "")
        (shutdown,) = agent.wait("shutdown_framework")
        assert shutdown["framework_id"] == {"value": fw.id}
    finally:
        agent.close()
