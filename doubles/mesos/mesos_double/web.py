# ruff: noqa: PLR0911
"""HTTP plumbing of the Mesos PROTOCOL DOUBLE: server, requests, JSON and v1 API checks.

Follows libprocess's HTTP behaviour where clients see it (src/master/http.cpp, src/common/http.cpp):
content types, 405 with Allow, v1 request validation and its error texts, and streaming
responses (3rdparty/libprocess/src/http.cpp: a `Response::PIPE` body is sent with
`Transfer-Encoding: chunked`, one chunk per write to the pipe, on a kept-alive HTTP/1.1
connection; the pipe's reader sees the client close the connection).
"""

from __future__ import annotations

import http.client
import json
import queue
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .common import BUILD_DATE, BUILD_TIME, BUILD_USER, MESOS_VERSION, die, log
from .flags import Flags

# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class Stream:
    """The writer end of a streamed (chunked) response body: libprocess's `Pipe::Writer`.

    ``write`` queues one chunk (sent and flushed on its own), ``close`` ends the body with the
    last chunk. The server calls the ``on_close`` callbacks once, from its own thread, when the
    stream ends for any reason: closed by us, the client closed the connection, or a write
    failed (libprocess's `Pipe::Reader::readAll` failing; the master's `http.closed()`).
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def write(self, data: bytes) -> bool:
        if self.closed.is_set():
            return False
        self._queue.put(data)
        return True

    def close(self) -> None:
        self._queue.put(None)

    def on_close(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.closed.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _next(self, timeout: float) -> bytes | None:
        return self._queue.get(timeout=timeout)

    def _finish(self) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:
                log(f"Stream close callback failed: {exc!r}", "E")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Stream | None = None

    @staticmethod
    def json(obj: Any, status: int = 200) -> Response:
        return Response(status, json.dumps(obj).encode(), "application/json")

    @staticmethod
    def text(status: int, text: str) -> Response:
        return Response(status, text.encode(), "text/plain; charset=utf-8")


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any
    body: bytes

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(bind_ip: str, port: int, route: Callable[[Request], Response]) -> Server:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Mesos-double"

        def _read_chunked(self) -> bytes:
            # A request body sent with `Transfer-Encoding: chunked` (libprocess's decoder takes
            # both forms): size lines in hex, optional extensions, trailers up to an empty line.
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()

        def _handle(self) -> None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                try:
                    body = self._read_chunked()
                except ValueError:
                    self.send_error(400, "Malformed chunked request body")
                    return
            else:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    self.send_error(400, "Malformed Content-Length")
                    return
                body = self.rfile.read(length) if length > 0 else b""
            path, _unused, query = self.path.partition("?")
            req = Request(self.command, path, query, self.headers, body)
            try:
                resp = route(req)
            except Exception as exc:
                log(f"Internal error on {self.command} {self.path}: {exc!r}", "E")
                resp = Response.text(500, str(exc))
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
            # A readable socket that yields no data is a connection the client closed.
            sock = self.connection
            try:
                readable, _unused, _unused2 = select.select([sock], [], [], 0)
                return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _stream(self, stream: Stream) -> None:
            # One chunk per record, flushed at once; the last chunk when the stream is closed.
            try:
                self.wfile.flush()
                while True:
                    try:
                        data = stream._next(0.25)
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
                stream._finish()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    try:
        server = Server((bind_ip, port), Handler)
    except OSError as exc:
        die(f"Failed to initialize: Failed to bind on {bind_ip}:{port}: {exc.strerror}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_json(method: str, url: str, obj: Any, timeout: float = 3.0) -> tuple[int, Any]:
    """Small HTTP/JSON client for the double's own agent<->master channel."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        body = json.dumps(obj).encode()
        conn.request(method, parts.path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data.decode("utf-8", "replace")
    finally:
        conn.close()


def version_json() -> dict:
    # src/version/version.hpp VersionProcess: build_date, build_time, build_user, version
    # (git_* only when built from git).
    return {
        "build_date": BUILD_DATE,
        "build_time": BUILD_TIME,
        "build_user": BUILD_USER,
        "version": MESOS_VERSION,
    }


def v1_version() -> dict:
    return {"version_info": version_json()}


def v1_flags(flags: Flags) -> dict:
    return {"flags": [{"name": k, "value": v} for k, v in flags.as_strings().items()]}


def method_not_allowed(allowed: Sequence[str], method: str) -> Response:
    # libprocess http::MethodNotAllowed(allowedMethods, requestMethod)
    body = "Expecting one of { " + ", ".join(f"'{m}'" for m in allowed) + f" }}, but received '{method}'"
    return Response(405, body.encode(), "text/plain; charset=utf-8", {"Allow": ", ".join(allowed)})


def v1_check_request(req: Request, kind: str = "master") -> tuple[Response | None, dict | None]:
    """Request checks of src/master/http.cpp Master::Http::api, in upstream's order."""
    if req.method != "POST":
        return method_not_allowed(["POST"], req.method), None
    ctype = req.headers.get("Content-Type")
    if ctype is None:
        return Response.text(400, "Expecting 'Content-Type' to be present"), None
    if ctype == "application/x-protobuf":
        # The double cannot decode protobuf (simplification, see doubles/README.md).
        return Response.text(415, "The Mesos protocol double only speaks application/json"), None
    if ctype != "application/json":
        return Response.text(415, "Expecting 'Content-Type' of application/json or application/x-protobuf"), None
    try:
        call = json.loads(req.body.decode("utf-8"))
    except ValueError as exc:
        return Response.text(400, f"Failed to parse body into JSON: {exc}"), None
    if not isinstance(call, dict):
        return Response.text(400, "Failed to convert JSON into Call protobuf: Expecting a JSON object"), None
    if not isinstance(call.get("type"), str):
        return Response.text(400, f"Failed to validate {kind}::Call: Expecting 'type' to be present"), None
    accept = req.headers.get("Accept")
    if accept and not any(
        a.split(";")[0].strip() in ("application/json", "*/*", "application/*") for a in accept.split(",")
    ):
        return Response.text(406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"), None
    return None, call


def drop_empty(obj: Any) -> Any:
    """JSON::protobuf leaves out empty repeated fields (and unset optional ones)."""
    if isinstance(obj, dict):
        out = {}
        for key, raw in obj.items():
            value = drop_empty(raw)
            if value is None or (isinstance(value, list) and not value):
                continue
            out[key] = value
        return out
    if isinstance(obj, list):
        return [drop_empty(v) for v in obj]
    return obj
