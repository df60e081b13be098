"""A Mesos v1 scheduler HTTP API client, written from the Mesos documentation (not from the double).

Used by the workload tests and benchmarks to drive a master the way a framework does. Every
rule here comes from apache/mesos, never from ``doubles/mesos``:

- ``docs/scheduler-http-api.md``: ``POST /api/v1/scheduler``; SUBSCRIBE answers ``200 OK`` with
  ``Transfer-Encoding: chunked`` (no ``Content-Length``) and keeps the connection open as a
  RecordIO stream (``record = record-size LF record-data``, the size a decimal uint64, never 0;
  chunk boundaries carry no meaning); the ``Mesos-Stream-Id`` header of that answer goes on
  every later call, each on ANOTHER connection, answered ``202 Accepted`` (4xx/5xx with the
  error as text otherwise); a non-leading master answers ``307`` with the leader in
  ``Location``; a scheduler that drops its subscription connection is "disconnected" and its
  tasks live on for ``failover_timeout``; UPDATEs with ``status.uuid`` must be acknowledged
  (``uuid`` base64), the others must not.
- ``include/mesos/v1/scheduler/scheduler.proto`` (Call, Event) and ``include/mesos/v1/mesos.proto``
  (FrameworkInfo, TaskInfo, Resource, ContainerInfo.DockerInfo, HealthCheck, KillPolicy,
  Filters, TaskStatus): exact JSON field names. Where the doc's examples and the protos
  disagree, the proto (which the doc calls canonical) wins: an ERROR event is
  ``{"type": "ERROR", "error": {"message": ...}}`` and SUBSCRIBE has no ``force`` field.
- ``src/master/validation.cpp`` (``scheduler::call::validate``): a re-subscription carries the
  FrameworkID both in ``framework_id`` and in ``subscribe.framework_info.id``.
- ``docs/reconciliation.md``: RECONCILE with task ids (explicit) or none (implicit); the
  answers are UPDATEs with ``reason`` ``REASON_RECONCILIATION``.
- ``docs/high-availability-framework-guide.md``: re-subscribe with the same FrameworkID after a
  master failover or a scheduler failover, then reconcile.

The parsing is strict on purpose: a master that frames its stream wrongly (a bad chunk, a
record size that is not a decimal number, a record that is not a JSON object with a known
``type``, a missing ``Mesos-Stream-Id``) makes the client fail loudly instead of guessing.

Events are kept in arrival order (``Scheduler.events``); tests wait for the one they need
with a predicate and a deadline (``Scheduler.wait``), woken by the reader thread as each event
arrives (no polling, no fixed sleeps).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

API_PATH = "/api/v1/scheduler"
APPLICATION_JSON = "application/json"
STREAM_ID_HEADER = "Mesos-Stream-Id"

# scheduler.proto Event.Type (UNKNOWN excluded: a master never sends it).
EVENT_TYPES = frozenset(
    {
        "SUBSCRIBED",
        "OFFERS",
        "INVERSE_OFFERS",
        "RESCIND",
        "RESCIND_INVERSE_OFFER",
        "UPDATE",
        "UPDATE_OPERATION_STATUS",
        "MESSAGE",
        "FAILURE",
        "ERROR",
        "HEARTBEAT",
    }
)
# The union member each event type must carry (scheduler.proto: "optional Subscribed subscribed = 2"...).
EVENT_FIELDS = {
    "SUBSCRIBED": "subscribed",
    "OFFERS": "offers",
    "INVERSE_OFFERS": "inverse_offers",
    "RESCIND": "rescind",
    "RESCIND_INVERSE_OFFER": "rescind_inverse_offer",
    "UPDATE": "update",
    "UPDATE_OPERATION_STATUS": "update_operation_status",
    "MESSAGE": "message",
    "FAILURE": "failure",
    "ERROR": "error",
}
# mesos.proto TaskState: the terminal ones (TASK_LOST is not always terminal, see the proto).
TERMINAL_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"})
TASK_STATES = TERMINAL_STATES | {
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_LOST",
    "TASK_UNREACHABLE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
}
# record-size is a uint64: at most 20 decimal digits.
_MAX_SIZE_DIGITS = 20
_UINT64_MAX = 2**64 - 1


class ProtocolError(Exception):
    """The master broke the documented wire format (HTTP framing, RecordIO, event shape).

    ``decoded``: what a decoder had decoded from the same ``feed`` before the error (body bytes
    of a ChunkedDecoder, records of a RecordIODecoder), so that the good events before a bad
    one are still delivered.
    """

    def __init__(self, message: str, decoded: bytes | list[bytes] | None = None) -> None:
        super().__init__(message)
        self.decoded = decoded


class ChunkedDecoder:
    """Incremental decoder of an HTTP/1.1 chunked body (RFC 9112 section 7.1), strict.

    ``feed(data)`` returns the body bytes decoded so far from ``data`` (possibly empty);
    ``done`` turns true after the last chunk (``0``) and its trailer section. Chunk
    extensions are skipped; anything else that is not ``hex-size [;ext] CRLF data CRLF``
    raises ProtocolError.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining: int | None = None  # bytes left in the current chunk's data
        self._need_crlf = False  # after a chunk's data
        self._in_trailer = False
        self.done = False
        self.chunks = 0

    def feed(self, data: bytes) -> bytes:
        if self.done:
            if data:
                raise ProtocolError(f"{len(data)} bytes after the last chunk")
            return b""
        self._buf += data
        out = bytearray()
        try:
            self._decode(out)
        except ProtocolError as exc:
            exc.decoded = bytes(out)
            raise
        return bytes(out)

    def _decode(self, out: bytearray) -> None:
        while True:
            if self._in_trailer:
                line = self._line()
                if line is None:
                    break
                if line == b"":
                    self.done = True
                    if self._buf:
                        raise ProtocolError(f"{len(self._buf)} bytes after the last chunk")
                    break
                continue  # a trailer field: ignored
            if self._need_crlf:
                if len(self._buf) < 2:
                    break
                if self._buf[:2] != b"\r\n":
                    raise ProtocolError(f"chunk data not followed by CRLF: {bytes(self._buf[:2])!r}")
                del self._buf[:2]
                self._need_crlf = False
                continue
            if self._remaining is None:
                line = self._line()
                if line is None:
                    break
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not size_text or not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
                    raise ProtocolError(f"bad chunk size line {line!r}")
                size = int(size_text, 16)
                if size == 0:
                    self._in_trailer = True
                    continue
                self.chunks += 1
                self._remaining = size
            take = min(self._remaining, len(self._buf))
            if take == 0:
                break
            out += self._buf[:take]
            del self._buf[:take]
            self._remaining -= take
            if self._remaining == 0:
                self._remaining = None
                self._need_crlf = True

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > 4096:
                raise ProtocolError("chunk size line longer than 4096 bytes")
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line


class RecordIODecoder:
    """Incremental RecordIO decoder (docs/scheduler-http-api.md "RecordIO response format").

    ``records = *record; record = record-size LF record-data; record-size = 1*DIGIT;
    record-data = record-size(OCTET)``. ``feed(data)`` returns the complete records found so
    far, in order; a partial record stays buffered. Strict: the size is decimal digits only
    (no sign, no blanks, no CR, no empty line), fits a uint64, and is never 0 ("the value of
    length will never be '0'").
    """

    def __init__(self, max_record: int = 64 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._size: int | None = None
        self.max_record = max_record
        self.records = 0

    @property
    def buffered(self) -> int:
        """Bytes held back: an incomplete size line or record."""
        return len(self._buf)

    @property
    def at_boundary(self) -> bool:
        """Whether the stream so far ended exactly after a record."""
        return self._size is None and not self._buf

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        try:
            self._decode(out)
        except ProtocolError as exc:
            exc.decoded = out
            raise
        return out

    def _decode(self, out: list[bytes]) -> None:
        while True:
            if self._size is None:
                end = self._buf.find(b"\n")
                if end < 0:
                    if len(self._buf) > _MAX_SIZE_DIGITS or (self._buf and not self._buf.isdigit()):
                        raise ProtocolError(f"bad RecordIO record-size {bytes(self._buf[:32])!r}")
                    break
                size_text = bytes(self._buf[:end])
                if not size_text.isdigit() or len(size_text) > _MAX_SIZE_DIGITS:
                    raise ProtocolError(f"bad RecordIO record-size {size_text[:32]!r}")
                size = int(size_text)
                if size == 0:
                    raise ProtocolError("RecordIO record-size 0 (the docs say it is never 0)")
                if size > _UINT64_MAX:
                    raise ProtocolError(f"RecordIO record-size {size} exceeds uint64")
                if size > self.max_record:
                    raise ProtocolError(f"RecordIO record of {size} bytes exceeds {self.max_record}")
                del self._buf[: end + 1]
                self._size = size
            if len(self._buf) < self._size:
                break
            out.append(bytes(self._buf[: self._size]))
            del self._buf[: self._size]
            self._size = None
            self.records += 1


def encode_records(payloads: Iterable[bytes]) -> bytes:
    """RecordIO-encode ``payloads`` (for tests of the decoder)."""
    return b"".join(str(len(p)).encode() + b"\n" + p for p in payloads)


def encode_chunks(data: bytes, sizes: Iterable[int]) -> bytes:
    """``data`` as an HTTP chunked body cut at ``sizes`` (the rest in one chunk), with the last chunk."""
    out = bytearray()
    pos = 0
    for size in sizes:
        piece = data[pos : pos + size]
        pos += len(piece)
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    if pos < len(data):
        out += f"{len(data) - pos:x}\r\n".encode() + data[pos:] + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def parse_event(record: bytes) -> dict[str, Any]:
    """One RecordIO record as a scheduler Event (JSON object with a known ``type`` and its field)."""
    try:
        event = json.loads(record.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"record is not JSON ({exc}): {record[:200]!r}") from None
    if not isinstance(event, dict):
        raise ProtocolError(f"event is not a JSON object: {record[:200]!r}")
    etype = event.get("type")
    if etype not in EVENT_TYPES:
        raise ProtocolError(f"unknown event type {etype!r}: {record[:200]!r}")
    member = EVENT_FIELDS.get(etype)
    if member is not None and not isinstance(event.get(member), dict):
        raise ProtocolError(f"{etype} event without its {member!r} object: {record[:300]!r}")
    if etype == "SUBSCRIBED" and not _value(event["subscribed"].get("framework_id")):
        raise ProtocolError(f"SUBSCRIBED without framework_id.value: {record[:300]!r}")
    if etype == "UPDATE":
        status = event["update"].get("status")
        if not isinstance(status, dict) or not _value(status.get("task_id")) or status.get("state") not in TASK_STATES:
            raise ProtocolError(f"UPDATE without status.task_id / a known status.state: {record[:300]!r}")
    if etype == "OFFERS" and not isinstance(event["offers"].get("offers", []), list):
        raise ProtocolError(f"OFFERS.offers is not a list: {record[:300]!r}")
    if etype == "RESCIND" and not _value(event["rescind"].get("offer_id")):
        raise ProtocolError(f"RESCIND without offer_id.value: {record[:300]!r}")
    if etype == "ERROR" and not isinstance(event["error"].get("message"), str):
        raise ProtocolError(f"ERROR without error.message: {record[:300]!r}")
    return event


def _value(obj: object) -> str | None:
    """``x`` of an id message ``{"value": x}``; None when absent or malformed."""
    if isinstance(obj, dict) and isinstance(obj.get("value"), str) and obj["value"]:
        return obj["value"]
    return None


# ----------------------------------------------------------------------------------------------
# Messages (mesos.proto), as JSON
# ----------------------------------------------------------------------------------------------


def ident(value: str) -> dict[str, str]:
    """An id message: FrameworkID, OfferID, AgentID, TaskID... (``{"value": ...}``)."""
    return {"value": value}


def framework_info(
    name: str,
    *,
    user: str = "root",
    framework_id: str | None = None,
    failover_timeout: float | None = None,
    checkpoint: bool | None = None,
    roles: Sequence[str] | None = ("*",),
    capabilities: Sequence[str] = ("MULTI_ROLE",),
    hostname: str | None = None,
) -> dict[str, Any]:
    """FrameworkInfo (``user`` and ``name`` required).

    ``roles`` is read only with the MULTI_ROLE capability (mesos.proto): a MULTI_ROLE framework
    without roles gets no offers, hence the default ``["*"]``.
    """
    info: dict[str, Any] = {"user": user, "name": name}
    if framework_id:
        info["id"] = ident(framework_id)
    if failover_timeout is not None:
        info["failover_timeout"] = float(failover_timeout)
    if checkpoint is not None:
        info["checkpoint"] = checkpoint
    if roles is not None:
        info["roles"] = list(roles)
    if capabilities:
        info["capabilities"] = [{"type": c} for c in capabilities]
    if hostname:
        info["hostname"] = hostname
    return info


def scalar(name: str, value: float, role: str | None = None) -> dict[str, Any]:
    """A SCALAR Resource (``cpus``, ``mem`` in MB, ``disk`` in MB)."""
    res: dict[str, Any] = {"name": name, "type": "SCALAR", "scalar": {"value": float(value)}}
    if role:
        res["role"] = role
    return res


def duration(seconds: float) -> dict[str, int]:
    """DurationInfo."""
    return {"nanoseconds": round(seconds * 1e9)}


def kill_policy(grace_seconds: float) -> dict[str, Any]:
    """KillPolicy: SIGTERM, then SIGKILL after the grace period (``docker stop --time`` for docker)."""
    return {"grace_period": duration(grace_seconds)}


def command_health_check(
    command: str,
    *,
    delay: float | None = None,
    interval: float | None = None,
    timeout: float | None = None,
    consecutive_failures: int | None = None,
    grace_period: float | None = None,
) -> dict[str, Any]:
    """HealthCheck of type COMMAND (proto defaults: delay 15, interval 10, timeout 20, 3 failures, grace 10)."""
    hc: dict[str, Any] = {"type": "COMMAND", "command": {"shell": True, "value": command}}
    for key, value in (
        ("delay_seconds", delay),
        ("interval_seconds", interval),
        ("timeout_seconds", timeout),
        ("grace_period_seconds", grace_period),
    ):
        if value is not None:
            hc[key] = float(value)
    if consecutive_failures is not None:
        hc["consecutive_failures"] = consecutive_failures
    return hc


def docker_task(
    task_id: str,
    agent_id: str,
    image: str,
    *,
    name: str | None = None,
    cpus: float = 0.1,
    mem: float = 32,
    command: str | None = None,
    shell: bool = True,
    arguments: Sequence[str] | None = None,
    network: str = "HOST",
    force_pull: bool | None = None,
    health_check: dict[str, Any] | None = None,
    kill_grace: float | None = None,
    extra_resources: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """TaskInfo of a Docker container task run by the docker containerizer (no custom executor).

    ``command`` None runs the image's entrypoint (CommandInfo ``shell: false``, no value);
    otherwise ``/bin/sh -c command`` (``shell: true``) or the value with ``arguments``.
    """
    cmd: dict[str, Any]
    if command is None:
        cmd = {"shell": False}
        if arguments:
            cmd["arguments"] = list(arguments)
    else:
        cmd = {"shell": shell, "value": command}
        if arguments:
            cmd["arguments"] = list(arguments)
    docker: dict[str, Any] = {"image": image, "network": network}
    if force_pull is not None:
        docker["force_pull_image"] = force_pull
    task: dict[str, Any] = {
        "name": name or task_id,
        "task_id": ident(task_id),
        "agent_id": ident(agent_id),
        "resources": [scalar("cpus", cpus), scalar("mem", mem), *extra_resources],
        "command": cmd,
        "container": {"type": "DOCKER", "docker": docker},
    }
    if health_check is not None:
        task["health_check"] = health_check
    if kill_grace is not None:
        task["kill_policy"] = kill_policy(kill_grace)
    return task


def launch(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Offer.Operation LAUNCH."""
    return {"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}


def offer_scalar(offer: dict[str, Any], name: str) -> float:
    """Sum of an offer's SCALAR resources called ``name``."""
    return sum(
        float(r.get("scalar", {}).get("value", 0.0))
        for r in offer.get("resources", [])
        if r.get("name") == name and r.get("type") == "SCALAR"
    )


# ----------------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A master's answer to one call (status, headers with lower-case names, body text)."""

    status: int
    headers: dict[str, str]
    body: str
    master: str

    @property
    def location(self) -> str | None:
        return self.headers.get("location")


class CallError(AssertionError):
    """A call got another status than expected (an AssertionError: a test failure)."""

    def __init__(self, call_type: str, answer: Answer, expected: int) -> None:
        super().__init__(
            f"{call_type} to {answer.master} answered {answer.status} (expected {expected}): {answer.body[:500]}"
        )
        self.answer = answer


class SubscribeError(AssertionError):
    """SUBSCRIBE was refused (4xx/5xx with the error as text) or answered against the docs."""

    def __init__(self, message: str, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.answer = answer


def split_master(master: str) -> tuple[str, int]:
    """``host:port``, ``http://host:port`` or ``//host:port`` -> (host, port); port 5050 by default."""
    text = master if "//" in master else f"//{master}"
    parsed = urllib.parse.urlsplit(text)
    if not parsed.hostname:
        raise ValueError(f"not a master address: {master!r}")
    return parsed.hostname, parsed.port or 5050


def redirect_target(location: str, current: str) -> str:
    """``host:port`` a 307 ``Location`` names: ``//host:port[/path]``, ``http://host:port/...`` or ``host:port``."""
    if not location:
        raise ProtocolError(f"307 from {current} without a Location")
    host, port = split_master(location if "//" in location else "//" + location.split("/", 1)[0])
    return f"{host}:{port}"


def post(
    master: str,
    body: dict[str, Any] | bytes,
    *,
    stream_id: str | None = None,
    timeout: float = 10.0,
    content_type: str | None = APPLICATION_JSON,
    accept: str | None = APPLICATION_JSON,
) -> Answer:
    """One POST to ``/api/v1/scheduler`` on its own connection (never the subscription's)."""
    host, port = split_master(master)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    if stream_id is not None:
        headers[STREAM_ID_HEADER] = stream_id
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", API_PATH, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text, f"{host}:{port}")
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------
# The scheduler
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event as it arrived: its index in ``Scheduler.events``, type, JSON, arrival time."""

    index: int
    type: str
    body: dict[str, Any]
    received: float  # time.monotonic()
    subscription: int  # which subscription (1, 2...) carried it

    @property
    def status(self) -> dict[str, Any]:
        """``update.status`` of an UPDATE (empty for other events)."""
        return self.body.get("update", {}).get("status", {}) if self.type == "UPDATE" else {}

    @property
    def task_id(self) -> str | None:
        return _value(self.status.get("task_id"))

    @property
    def offers(self) -> list[dict[str, Any]]:
        return list(self.body.get("offers", {}).get("offers", [])) if self.type == "OFFERS" else []


@dataclass
class Subscription:
    """What one SUBSCRIBE connection established."""

    number: int
    master: str
    stream_id: str
    headers: dict[str, str]
    sock: socket.socket
    chunks: ChunkedDecoder = field(default_factory=ChunkedDecoder)
    records: RecordIODecoder = field(default_factory=RecordIODecoder)
    ended: str | None = None  # why the stream ended (None while it runs)
    pending: bytes = b""  # stream bytes read together with the headers


class Scheduler:
    """A framework scheduler speaking the v1 scheduler HTTP API to one of ``masters``.

    ``subscribe()`` tries the masters in order (following 307 to the leader) and starts a
    reader thread on the stream; calls go to the master of the current subscription with its
    stream id. ``close()`` drops the connection without TEARDOWN: a scheduler failure, the
    framework stays registered for its ``failover_timeout``; ``subscribe()`` again re-subscribes
    with the same FrameworkID. With ``auto_acknowledge`` every UPDATE with a ``uuid`` is
    acknowledged as it arrives (from the reader thread, on its own connection).
    """

    def __init__(
        self,
        masters: Sequence[str],
        framework: dict[str, Any],
        *,
        auto_acknowledge: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if not masters:
            raise ValueError("no master given")
        self.masters = list(masters)
        self.framework = dict(framework)
        self.auto_acknowledge = auto_acknowledge
        self.timeout = timeout
        self.framework_id: str | None = _value(framework.get("id"))
        self.events: list[Event] = []
        self.heartbeat_interval: float | None = None
        self.heartbeats = 0
        self.last_heartbeat: float | None = None
        self.acknowledged: list[tuple[str, str]] = []  # (task id, uuid)
        self.used_offers: set[str] = set()  # offers answered (ACCEPT/DECLINE answered 202)
        self.errors: list[str] = []  # reader/acknowledgement problems, in order
        self.protocol_error: ProtocolError | None = None
        self.subscription: Subscription | None = None
        self._subscriptions = 0
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None

    # -- subscription -------------------------------------------------------------------------

    @property
    def stream_id(self) -> str | None:
        return self.subscription.stream_id if self.subscription else None

    @property
    def master(self) -> str | None:
        return self.subscription.master if self.subscription else None

    @property
    def connected(self) -> bool:
        return self.subscription is not None and self.subscription.ended is None

    def subscribe_body(self) -> dict[str, Any]:
        """The SUBSCRIBE call; with a known FrameworkID it is a re-subscription (id in both places)."""
        info = dict(self.framework)
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.framework_id:
            info["id"] = ident(self.framework_id)
            body["framework_id"] = ident(self.framework_id)
        return body

    def subscribe(self, timeout: float = 30.0, max_redirects: int = 3) -> Event:
        """Subscribe (or re-subscribe) and return the SUBSCRIBED event.

        Tries each master in turn until one streams, following ``307`` to the leader; ``503``
        (no leader yet) and refused connections are retried until ``timeout``; a 4xx other than
        those raises SubscribeError at once with the master's text.
        """
        if self.connected:
            raise RuntimeError("already subscribed: close() first")
        deadline = time.monotonic() + timeout
        problems: list[str] = []
        while True:
            for first in self.masters:
                target = first
                for _hop in range(max_redirects + 1):
                    try:
                        result = self._open_stream(target)
                    except OSError as exc:
                        problems.append(f"{target}: {exc}")
                        break
                    if isinstance(result, Subscription):
                        return self._start(result, deadline)
                    answer = result
                    if answer.status == 307:
                        target = redirect_target(answer.location or "", target)
                        continue
                    if answer.status == 503:
                        problems.append(f"{target}: 503 {answer.body[:200]}")
                        break
                    raise SubscribeError(f"SUBSCRIBE to {target} answered {answer.status}: {answer.body[:500]}", answer)
                else:
                    problems.append(f"more than {max_redirects} redirects from {first}")
            if time.monotonic() >= deadline:
                raise SubscribeError(f"no master accepted SUBSCRIBE within {timeout}s: {problems[-6:]}")
            time.sleep(0.2)  # retry interval while a leader is being elected

    def _open_stream(self, master: str) -> Subscription | Answer:
        host, port = split_master(master)
        sock = socket.create_connection((host, port), timeout=self.timeout)
        try:
            body = json.dumps(self.subscribe_body()).encode()
            head = (
                f"POST {API_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {APPLICATION_JSON}\r\n"
                f"Accept: {APPLICATION_JSON}\r\nConnection: keep-alive\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
            status, headers, rest = _read_head(sock)
            where = f"{host}:{port}"
            if status != 200:
                text = _read_plain_body(sock, headers, rest)
                sock.close()
                return Answer(status, headers, text.decode("utf-8", "replace"), where)
            # docs: "200 OK" with Transfer-Encoding: chunked and no Content-Length.
            if headers.get("transfer-encoding", "").lower() != "chunked":
                raise ProtocolError(f"SUBSCRIBE answer from {where} is not chunked: {headers}")
            if "content-length" in headers:
                raise ProtocolError(f"SUBSCRIBE answer from {where} has a Content-Length: {headers}")
            if headers.get("content-type", "").split(";")[0].strip() != APPLICATION_JSON:
                raise ProtocolError(f"SUBSCRIBE answer from {where} is not {APPLICATION_JSON}: {headers}")
            stream_id = headers.get(STREAM_ID_HEADER.lower())
            if not stream_id:
                raise ProtocolError(f"SUBSCRIBE answer from {where} without {STREAM_ID_HEADER}: {headers}")
            self._subscriptions += 1
            return Subscription(self._subscriptions, where, stream_id, headers, sock, pending=rest)
        except BaseException:
            sock.close()
            raise

    def _start(self, sub: Subscription, deadline: float) -> Event:
        mark = len(self.events)
        sub.sock.settimeout(None)
        self.subscription = sub
        self._reader = threading.Thread(
            target=self._read_loop, args=(sub, sub.pending), name=f"mesos-scheduler-{sub.number}", daemon=True
        )
        self._reader.start()
        event = self.wait(
            lambda e: e.type in ("SUBSCRIBED", "ERROR") and e.subscription == sub.number,
            max(1.0, deadline - time.monotonic()),
            "SUBSCRIBED",
            since=mark,
        )
        if event.type == "ERROR":
            raise SubscribeError(f"ERROR instead of SUBSCRIBED: {event.body['error']['message']}")
        first = next(e for e in self.events[mark:] if e.subscription == sub.number)
        if first is not event:
            raise ProtocolError(f"first event of the stream is {first.type}, not SUBSCRIBED")
        return event

    def close(self) -> None:
        """Drop the subscription connection without TEARDOWN (a scheduler failure, per the docs)."""
        sub = self.subscription
        if sub is None:
            return
        if sub.ended is None:
            sub.ended = "closed by the scheduler"
        try:
            sub.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sub.sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)

    def _read_loop(self, sub: Subscription, pending: bytes) -> None:
        data = pending
        try:
            while True:
                if data:
                    for record in self._records(sub, data):
                        self._deliver(sub, parse_event(record))
                    if sub.chunks.done:
                        self._end(sub, "the master ended the stream (last chunk)")
                        return
                data = sub.sock.recv(65536)
                if not data:
                    self._end(sub, "the master closed the connection")
                    return
        except ProtocolError as exc:
            self.protocol_error = exc
            self._end(sub, f"protocol error: {exc}")
            sub.sock.close()
        except OSError as exc:
            self._end(sub, f"connection error: {exc}")

    def _records(self, sub: Subscription, data: bytes) -> list[bytes]:
        """Records completed by ``data``; on a framing error the good ones before it are delivered first."""
        try:
            body = sub.chunks.feed(data)
        except ProtocolError as exc:
            for record in sub.records.feed(exc.decoded if isinstance(exc.decoded, bytes) else b""):
                self._deliver(sub, parse_event(record))
            raise
        try:
            return sub.records.feed(body)
        except ProtocolError as exc:
            for record in exc.decoded if isinstance(exc.decoded, list) else []:
                self._deliver(sub, parse_event(record))
            raise

    def _end(self, sub: Subscription, why: str) -> None:
        with self._cond:
            if sub.ended is None:
                sub.ended = why
            if sub.records.buffered and not sub.ended.startswith("closed by"):
                self.errors.append(f"stream {sub.number} ended inside a record ({sub.records.buffered} bytes)")
            self._cond.notify_all()

    def _deliver(self, sub: Subscription, body: dict[str, Any]) -> None:
        now = time.monotonic()
        etype = body["type"]
        if etype == "SUBSCRIBED":
            self.framework_id = body["subscribed"]["framework_id"]["value"]
            interval = body["subscribed"].get("heartbeat_interval_seconds")
            self.heartbeat_interval = float(interval) if interval is not None else None
        elif etype == "HEARTBEAT":
            self.heartbeats += 1
            self.last_heartbeat = now
        with self._cond:
            event = Event(len(self.events), etype, body, now, sub.number)
            self.events.append(event)
            self._cond.notify_all()
        if etype == "UPDATE" and self.auto_acknowledge and event.status.get("uuid"):
            self._auto_ack(event)

    def _auto_ack(self, event: Event) -> None:
        status = event.status
        agent = _value(status.get("agent_id"))
        task = event.task_id
        if not agent or not task:
            self.errors.append(f"UPDATE with a uuid but without agent_id/task_id: {status}")
            return
        try:
            answer = self.acknowledge(agent, task, status["uuid"], expect=None)
        except OSError as exc:
            self.errors.append(f"ACKNOWLEDGE {task} failed: {exc}")
            return
        if answer.status != 202:
            self.errors.append(f"ACKNOWLEDGE {task} answered {answer.status}: {answer.body[:200]}")
        else:
            self.acknowledged.append((task, status["uuid"]))

    def heartbeats_missed(self, now: float | None = None) -> float:
        """Heartbeat intervals since the last HEARTBEAT (or SUBSCRIBED): docs/scheduler-http-api.md
        "Network partitions" says to re-subscribe after missing "a bunch (e.g., 5)" of them."""
        if self.heartbeat_interval is None or not self.events:
            return 0.0
        subscribed = [e.received for e in self.events if e.type == "SUBSCRIBED"]
        last = max([t for t in (self.last_heartbeat, subscribed[-1] if subscribed else None) if t is not None])
        now = time.monotonic() if now is None else now
        return (now - last) / self.heartbeat_interval if self.heartbeat_interval > 0 else 0.0

    # -- waiting ------------------------------------------------------------------------------

    def mark(self) -> int:
        """The index the next event will get: ``wait(..., since=mark)`` sees only later events."""
        with self._cond:
            return len(self.events)

    def wait(
        self, pred: Callable[[Event], object], timeout: float, what: str, *, since: int = 0, stop_on_end: bool = False
    ) -> Event:
        """The first event from index ``since`` on for which ``pred`` holds; woken per event.

        Raises AssertionError after ``timeout`` s with the last events seen, or at once on a
        protocol error (and, with ``stop_on_end``, when the stream ends).
        """
        deadline = time.monotonic() + timeout
        pos = since
        with self._cond:
            while True:
                while pos < len(self.events):
                    event = self.events[pos]
                    pos += 1
                    if pred(event):
                        return event
                if self.protocol_error is not None:
                    raise AssertionError(f"waiting for {what}: {self.protocol_error}")
                if stop_on_end and not self.connected:
                    ended = self.subscription.ended if self.subscription else "never subscribed"
                    raise AssertionError(f"waiting for {what}: the stream ended ({ended})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; {self.describe()}")
                self._cond.wait(left)

    def wait_ended(self, timeout: float) -> str:
        """Wait until the current subscription's stream ends; why it ended."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.connected:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the stream did not end within {timeout}s; {self.describe()}")
                self._cond.wait(left)
        assert self.subscription is not None
        return self.subscription.ended or ""

    def wait_offers(
        self,
        timeout: float,
        *,
        since: int = 0,
        pred: Callable[[dict[str, Any]], object] | None = None,
        what: str = "an offer",
    ) -> list[dict[str, Any]]:
        """Usable offers of the first OFFERS event (from ``since``) with one matching ``pred``.

        Usable: from the current subscription (offers do not survive a re-subscription,
        docs/reconciliation.md "Offer Reconciliation"), not rescinded, not yet accepted or declined.
        """

        def matching(event: Event) -> list[dict[str, Any]]:
            if event.type != "OFFERS" or self.subscription is None or event.subscription != self.subscription.number:
                return []
            return [
                o
                for o in event.offers
                if (pred is None or pred(o))
                and o["id"]["value"] not in self.used_offers
                and not self.rescinded(o["id"]["value"])
            ]

        event = self.wait(matching, timeout, what, since=since)
        return matching(event)

    def rescinded(self, offer_id: str) -> bool:
        return any(e.type == "RESCIND" and e.body["rescind"]["offer_id"]["value"] == offer_id for e in self.events)

    def wait_update(
        self,
        task_id: str,
        states: str | Iterable[str],
        timeout: float,
        *,
        since: int = 0,
        pred: Callable[[dict[str, Any]], object] | None = None,
    ) -> dict[str, Any]:
        """The TaskStatus of the first UPDATE for ``task_id`` in one of ``states`` (from ``since``)."""
        wanted = {states} if isinstance(states, str) else set(states)

        def match(e: Event) -> bool:
            return (
                e.type == "UPDATE"
                and e.task_id == task_id
                and e.status.get("state") in wanted
                and (pred is None or bool(pred(e.status)))
            )

        return self.wait(match, timeout, f"{task_id} in {sorted(wanted)}", since=since).status

    def updates(self, task_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Every TaskStatus received for ``task_id`` (from ``since``), in order."""
        with self._cond:
            return [e.status for e in self.events[since:] if e.type == "UPDATE" and e.task_id == task_id]

    def describe(self) -> str:
        """The stream's state and its last events, for failure messages."""
        sub = self.subscription
        state = "never subscribed" if sub is None else (f"stream {sub.number} on {sub.master}: {sub.ended or 'open'}")
        tail = [_brief(e) for e in self.events[-8:]]
        extra = f"; errors: {self.errors[-3:]}" if self.errors else ""
        return f"{state}; last events: {tail}{extra}"

    # -- calls --------------------------------------------------------------------------------

    def call(
        self, body: dict[str, Any], *, expect: int | None = 202, stream_id: str | None = None, master: str | None = None
    ) -> Answer:
        """POST a call (``framework_id`` added) to the subscribed master with the stream id.

        ``expect``: the status that must come back (CallError otherwise); None returns any.
        """
        if self.framework_id is None:
            raise RuntimeError("no FrameworkID yet: subscribe() first")
        full = {"framework_id": ident(self.framework_id), **body}
        target = master or self.master
        if target is None:
            raise RuntimeError("never subscribed")
        answer = post(
            target, full, stream_id=stream_id if stream_id is not None else self.stream_id, timeout=self.timeout
        )
        if expect is not None and answer.status != expect:
            raise CallError(str(body.get("type")), answer, expect)
        return answer

    def accept(
        self,
        offer_ids: Sequence[str],
        operations: Sequence[dict[str, Any]],
        *,
        refuse_seconds: float | None = None,
        expect: int | None = 202,
    ) -> Answer:
        accept: dict[str, Any] = {"offer_ids": [ident(o) for o in offer_ids], "operations": list(operations)}
        if refuse_seconds is not None:
            accept["filters"] = {"refuse_seconds": float(refuse_seconds)}
        answer = self.call({"type": "ACCEPT", "accept": accept}, expect=expect)
        if answer.status == 202:
            self.used_offers.update(offer_ids)
        return answer

    def launch(self, offer: dict[str, Any], tasks: Sequence[dict[str, Any]], **kwargs: Any) -> Answer:
        """ACCEPT one offer with one LAUNCH of ``tasks``."""
        return self.accept([offer["id"]["value"]], [launch(tasks)], **kwargs)

    def decline(
        self, offer_ids: Sequence[str], *, refuse_seconds: float | None = None, expect: int | None = 202
    ) -> Answer:
        decline: dict[str, Any] = {"offer_ids": [ident(o) for o in offer_ids]}
        if refuse_seconds is not None:
            decline["filters"] = {"refuse_seconds": float(refuse_seconds)}
        answer = self.call({"type": "DECLINE", "decline": decline}, expect=expect)
        if answer.status == 202:
            self.used_offers.update(offer_ids)
        return answer

    def outstanding_offers(self) -> list[dict[str, Any]]:
        """Offers of the current subscription neither answered nor rescinded (held by this framework)."""
        sub = self.subscription
        if sub is None:
            return []
        return [
            o
            for e in list(self.events)
            if e.type == "OFFERS" and e.subscription == sub.number
            for o in e.offers
            if o["id"]["value"] not in self.used_offers and not self.rescinded(o["id"]["value"])
        ]

    def decline_outstanding(self, *, refuse_seconds: float | None = None) -> list[str]:
        """DECLINE every offer this framework still holds (held offers are not offered to others)."""
        ids = [o["id"]["value"] for o in self.outstanding_offers()]
        if ids:
            self.decline(ids, refuse_seconds=refuse_seconds)
        return ids

    def revive(self, roles: Sequence[str] | None = None, *, expect: int | None = 202) -> Answer:
        body: dict[str, Any] = {"type": "REVIVE"}
        if roles:
            body["revive"] = {"roles": list(roles)}
        return self.call(body, expect=expect)

    def suppress(self, roles: Sequence[str] | None = None, *, expect: int | None = 202) -> Answer:
        body: dict[str, Any] = {"type": "SUPPRESS"}
        if roles:
            body["suppress"] = {"roles": list(roles)}
        return self.call(body, expect=expect)

    def kill(
        self, task_id: str, agent_id: str | None = None, *, grace_seconds: float | None = None, expect: int | None = 202
    ) -> Answer:
        kill: dict[str, Any] = {"task_id": ident(task_id)}
        if agent_id:
            kill["agent_id"] = ident(agent_id)
        if grace_seconds is not None:
            kill["kill_policy"] = kill_policy(grace_seconds)
        return self.call({"type": "KILL", "kill": kill}, expect=expect)

    def acknowledge(self, agent_id: str, task_id: str, uuid: str, *, expect: int | None = 202) -> Answer:
        """ACKNOWLEDGE an update; ``uuid`` as it came (base64 of the raw bytes)."""
        base64.b64decode(uuid, validate=True)  # the update's uuid must be base64 (raw bytes)
        ack = {"agent_id": ident(agent_id), "task_id": ident(task_id), "uuid": uuid}
        return self.call({"type": "ACKNOWLEDGE", "acknowledge": ack}, expect=expect)

    def reconcile(self, tasks: Sequence[tuple[str, str | None]] = (), *, expect: int | None = 202) -> Answer:
        """RECONCILE ``(task id, agent id or None)`` pairs (explicit) or nothing (implicit)."""
        items = []
        for task_id, agent_id in tasks:
            item: dict[str, Any] = {"task_id": ident(task_id)}
            if agent_id:
                item["agent_id"] = ident(agent_id)
            items.append(item)
        return self.call({"type": "RECONCILE", "reconcile": {"tasks": items}}, expect=expect)

    def reconcile_until(
        self, tasks: Sequence[tuple[str, str | None]], timeout: float, *, first_wait: float = 1.0
    ) -> dict[str, dict[str, Any]]:
        """docs/reconciliation.md "Algorithm": reconcile the tasks still unanswered, with a
        truncated exponential backoff, until each has an update that arrived after the start;
        the latest such TaskStatus per task. (Implicit reconciliation: ``reconcile()``.)"""
        if not tasks:
            raise ValueError("reconcile_until needs the tasks to reconcile")
        start = self.mark()
        deadline = time.monotonic() + timeout
        remaining = {t for t, _a in tasks}
        agents = dict(tasks)
        answers: dict[str, dict[str, Any]] = {}
        wait = first_wait
        while True:
            self.reconcile([(t, agents[t]) for t in sorted(remaining)])
            round_end = min(deadline, time.monotonic() + wait)
            while remaining and time.monotonic() < round_end:
                try:
                    event = self.wait(
                        lambda e: e.type == "UPDATE" and e.task_id in remaining,
                        max(0.01, round_end - time.monotonic()),
                        "reconciliation answers",
                        since=start,
                    )
                except AssertionError:
                    if self.protocol_error is not None:
                        raise
                    break
                remaining.discard(event.task_id or "")
            for e in self.events[start:]:
                if e.type == "UPDATE" and e.task_id is not None:
                    answers[e.task_id] = e.status
            if not remaining:
                return answers
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no reconciliation answer for {sorted(remaining)} in {timeout}s; {self.describe()}"
                )
            wait = min(wait * 2, 8.0)

    def teardown(self, *, expect: int | None = 202) -> Answer:
        return self.call({"type": "TEARDOWN"}, expect=expect)

    # -- convenience --------------------------------------------------------------------------

    def launch_one(
        self,
        make_task: Callable[[dict[str, Any]], dict[str, Any]],
        timeout: float,
        *,
        since: int | None = None,
        pred: Callable[[dict[str, Any]], object] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Wait for an offer (matching ``pred``), launch ``make_task(offer)`` on it; (offer, task)."""
        start = self.mark() if since is None else since
        offer = self.wait_offers(timeout, since=start, pred=pred)[0]
        task = make_task(offer)
        self.launch(offer, [task])
        return offer, task

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _brief(event: Event) -> str:
    if event.type == "UPDATE":
        s = event.status
        return f"UPDATE {event.task_id} {s.get('state')} {s.get('reason', '')} {s.get('message', '')[:80]}".strip()
    if event.type == "OFFERS":
        return f"OFFERS {[o['id']['value'] for o in event.offers]}"
    return event.type


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status and headers (lower-case names) of an HTTP/1.1 answer; the bytes read past them."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ProtocolError(f"connection closed before the answer's headers ended: {buf[:200]!r}")
        buf += data
        if len(buf) > 65536:
            raise ProtocolError("answer headers longer than 64 KiB")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", lines[0])
    if not match:
        raise ProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line!r}")
        headers[name.lower()] = value.strip()
    return int(match.group(1)), headers, rest


def _read_plain_body(sock: socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    """The whole body of a non-streaming answer (Content-Length, chunked, or up to close)."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        dec = ChunkedDecoder()
        out = dec.feed(rest)
        while not dec.done:
            data = sock.recv(65536)
            if not data:
                break
            out += dec.feed(data)
        return out
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(rest) < need:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        return rest[:need]
    while True:
        data = sock.recv(65536)
        if not data:
            return rest
        rest += data
