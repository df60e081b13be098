"""HTTP plumbing of the Marathon PROTOCOL DOUBLE: server, SSE streams, the leader proxy.

Upstream: mesosphere/marathon api/LeaderProxyFilter.scala (the leader adds
``X-Marathon-Leader: http://host:port`` to every answer; a standby forwards every request to the
leader, ``/v2/events`` excepted, which is a redirect; no leader known: 502 "Could not determine
the current leader" after up to 10 x 250 ms of waiting), api/forwarder/RequestForwarder.scala and
AsyncUrlConnectionRequestForwarder.scala (``X-Marathon-Via``; 502 when the leader refuses the
connection), core/event/impl/stream/HttpEventStreamServlet.scala (Jetty's EventSource: a
``text/event-stream`` body of ``event: <type>\\ndata: <json>\\n\\n`` frames, flushed per event;
``?event_type=`` filters).
"""

from __future__ import annotations

import http.client
import json
import queue
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from .common import EXIT_BINDING_ERROR, MARATHON_VERSION, crash, log


class Stream:
    """The writer end of a streamed (chunked) body; ``on_close`` runs once when it ends."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._callbacks: list[Callable[[], None]] = []
        self.closed = threading.Event()

    def write(self, data: bytes) -> bool:
        if self.closed.is_set():
            return False
        self._queue.put(data)
        return True

    def close(self) -> None:
        self._queue.put(None)

    def on_close(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def finish(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            for callback in self._callbacks:
                callback()


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Stream | None = None

    @staticmethod
    def json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        # Marathon's RAML serializer: compact JSON.
        return Response(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers or {})

    @staticmethod
    def message(status: int, text: str) -> Response:
        return Response.json({"message": text}, status)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any
    body: bytes
    client: str

    def param(self, name: str, default: str | None = None) -> str | None:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        return parse_qs(self.query, keep_blank_values=True).get(name, [])

    def flag(self, name: str, default: bool) -> bool:
        # JAX-RS Boolean query params: "true" (any case) is true, anything else false.
        value = self.param(name)
        return default if value is None else value.lower() == "true"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(bind: str, port: int, route: Callable[[Request], Response]) -> Server:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"marathon-double/{MARATHON_VERSION}"

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "Malformed Content-Length")
                return
            body = self.rfile.read(length) if length > 0 else b""
            path, _sep, query = self.path.partition("?")
            req = Request(self.command, path, query, self.headers, body, self.client_address[0])
            try:
                resp = route(req)
            except Exception as exc:
                log(f"Internal error on {self.command} {self.path}: {exc!r}", "ERROR")
                resp = Response.message(500, str(exc))
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            if resp.stream is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._stream(resp.stream)
                return
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        def _peer_closed(self) -> bool:
            try:
                readable, _w, _x = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _stream(self, stream: Stream) -> None:
            try:
                self.wfile.flush()
                while True:
                    try:
                        data = stream._queue.get(timeout=0.25)
                    except queue.Empty:
                        if self._peer_closed():
                            break
                        continue
                    if data is None:
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                        break
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
            except OSError:
                pass
            finally:
                self.close_connection = True
                stream.finish()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    try:
        server = Server((bind, port), Handler)
    except OSError as exc:
        crash(EXIT_BINDING_ERROR, f"Failed to bind {bind}:{port}: {exc.strerror}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sse_frame(event_type: str, payload: dict) -> bytes:
    # Jetty EventSource.Emitter.event(name, data): "event: <name>\ndata: <data>\n\n"
    return f"event: {event_type}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}


def forward(req: Request, leader: str, me: str, timeout: float) -> Response:
    """AsyncUrlConnectionRequestForwarder: the request to the leader, its answer back."""
    if me in req.headers.get_all("X-Marathon-Via", []):
        return Response.message(502, "Detected proxying loop.")
    host, _sep, port = leader.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP}
    headers["X-Marathon-Via"] = f"1.1 {me}"
    try:
        conn.request(
            req.method, req.path + (f"?{req.query}" if req.query else ""), body=req.body or None, headers=headers
        )
        resp = conn.getresponse()
        body = resp.read()
    except OSError:
        return Response.message(502, "Could not connect to leader")
    finally:
        conn.close()
    out = Response(resp.status, body)
    for key, value in resp.getheaders():
        if key.lower() == "content-type":
            out.content_type = value
        elif key.lower() not in _HOP:
            out.headers[key] = value
    out.headers["X-Marathon-Via"] = f"1.1 {me}"
    return out


def wait_for_leader(get_leader: Callable[[], str | None], me: str) -> str | None:
    # LeaderProxyFilter.waitForConsistentLeadership: 10 retries, 250 ms apart.
    for _attempt in range(11):
        leader = get_leader()
        if leader and leader != me:
            return leader
        time.sleep(0.25)
    return None
