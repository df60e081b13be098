"""Helpers of the Marathon protocol double's tests: processes, HTTP, Server-Sent Events.

Every port is picked free at run time, every wait polls a condition with a deadline
(tests/support/waiting.py), and each double gets its own ZooKeeper path.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from ansible_collections.orchestrator.platform.tests.support import waiting
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "doubles" / "marathon" / "marathon_double"
REFERENCE = Path(os.environ.get("MARATHON_REFERENCE_DIR", "/work/shared/reference/marathon"))
# DOUBLE_PYTHON=/usr/bin/python3 runs the double on Debian's python3 + python3-kazoo.
PYTHON = os.environ.get("DOUBLE_PYTHON") or sys.executable

wait_for = functools.partial(waiting.wait_for, retry_on=(OSError, ValueError, KeyError, http.client.HTTPException))


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, *, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def call(port: int, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, str], Any]:
    status, headers, raw = request(port, method, path, body, **kw)
    try:
        return status, headers, json.loads(raw) if raw else None
    except ValueError:
        return status, headers, raw.decode()


def get_json(port: int, path: str) -> Any:
    status, _h, body = call(port, "GET", path)
    assert status == 200, (path, status, body)
    return body


class Marathon:
    """One Marathon double process."""

    def __init__(self, zk: str, master: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.zk = zk
        self.args = [f"--master={master}", f"--zk={zk}", f"--http_port={self.port}", "--hostname=127.0.0.1", *extra]
        self.log = tempfile.NamedTemporaryFile(prefix="marathon-double-", suffix=".log", delete=False)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MARATHON_")}
        full_env.update(env or {})
        self.popen = subprocess.Popen([PYTHON, str(DOUBLE), *self.args], stdout=self.log, stderr=self.log, env=full_env)

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_up(self, timeout: float = 20) -> Marathon:
        def up() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"marathon exited {self.popen.returncode}:\n{self.output()}")
            return request(self.port, "GET", "/ping", timeout=5)[0] == 200

        wait_for(up, timeout, f"marathon on port {self.port}", details=self.output)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=10)


def zk_url(zk_ensemble: Any) -> str:
    return f"zk://{zk_ensemble.connect_string}/marathon-test-{uuid.uuid4().hex[:8]}"


def leader_of(ports: list[int]) -> int | None:
    """The port whose /v2/leader names itself, when all agree."""
    names = set()
    for port in ports:
        status, _h, body = call(port, "GET", "/v2/leader", timeout=5)
        if status != 200:
            return None
        names.add(body["leader"])
    if len(names) != 1:
        return None
    return int(names.pop().rsplit(":", 1)[1])


class Events:
    """A raw /v2/events reader: the chunked body is read chunk by chunk, frames parsed."""

    def __init__(self, port: int, query: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(f"GET /v2/events{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        self.status_line = self.file.readline().decode()
        self.headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            key, _sep, value = line.decode().partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self.chunks: list[bytes] = []
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        if "200" in self.status_line:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                size = int(self.file.readline().strip(), 16)
                if size == 0:
                    return
                chunk = self.file.read(size)
                self.file.readline()
                if chunk == b"\r\n":  # Jetty's EventSource heartbeat
                    continue
                with self.lock:
                    self.chunks.append(chunk)
                buf += chunk
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    lines = dict(line.split(": ", 1) for line in frame.decode().split("\n"))
                    with self.lock:
                        self.events.append((lines["event"], json.loads(lines["data"])))
        except (OSError, ValueError):
            return

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [data for name, data in self.events if name == kind]

    def wait(self, kind: str, timeout: float = 30, **match: Any) -> dict:
        def found() -> dict | None:
            for data in self.of(kind):
                if all(data.get(k) == v for k, v in match.items()):
                    return data
            return None

        return wait_for(found, timeout, f"event {kind} {match}", details=lambda: str(self.events)[-3000:])

    def close(self) -> None:
        self.sock.close()
