"""A tiny v1 scheduler client and fixtures for the master double's scheduler tests.

The client is the tests' own (not tests/support/mesos_scheduler.py): a raw socket that checks
the framing byte by byte (HTTP/1.1 chunked, one RecordIO record per chunk), plus helpers that
speak the double's agent channel (doubles/mesos/mesos_double/channel.py) like an agent does,
and the DOCKER task helpers of the end-to-end tests (the task image of tools/build-task-image,
containers labelled with this run's id and removed afterwards). Every wait polls a condition
with a deadline.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import (
    Proc,
    agent_args,
    get_json,
    request,
    wait_for,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


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


def start_agent(master: Proc, procs: list[Proc], work_dir: Path, *extra: str, **kwargs: Any) -> str:
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


def metrics_of(port: int) -> dict:
    return get_json(port, "/metrics/snapshot")


def agent_channel(master: Proc, action: str, body: dict) -> Any:
    """What an agent double sends over the double's channel (doubles/mesos/mesos_double/channel.py)."""
    status, _unused, answer = request(master.port, "POST", f"/__double__/agent/{action}", body)
    assert status == 200, (action, status, answer)
    return json.loads(answer)


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


# DOCKER tasks on the host's real engine

IMAGE = "orchestrator-platform/task-busybox:1"  # tools/build-task-image


RUN_ID = uuid.uuid4().hex[:12]


LABEL = f"orchestrator-platform.test-run={RUN_ID}"


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


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
