"""Test helpers: canned four-letter-word and Mesos HTTP servers on 127.0.0.1, running a module's main()."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, TypeVar

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 has no testing helper: set the args the way it read them
    from unittest import mock

    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args: dict | None = None) -> Iterator[None]:
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield


DATA = pathlib.Path(__file__).parent / "module_utils" / "data"


def captured(name: str) -> str:
    """A real answer captured from the loopback ensemble (see data/README.md)."""
    return (DATA / name).read_text(encoding="utf-8")


class FourLetterServer:
    """Answers each 4lw command from a dict (``{"srvr": text}``); unknown commands get nothing."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            with conn:
                cmd = conn.recv(4).decode("ascii", "replace")
                self.seen.append(cmd)
                conn.sendall(self.answers.get(cmd, "").encode())

    def close(self) -> None:
        self.sock.close()


def unused_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LEADER = {"srvr": "srvr_leader.txt", "mntr": "mntr_leader.txt"}
FOLLOWER = {"srvr": "srvr_follower.txt", "mntr": "mntr_follower.txt"}
NOT_SERVING = {"srvr": "srvr_not_serving.txt", "mntr": "mntr_not_serving.txt", "ruok": "ruok_not_serving.txt"}
STANDALONE = {"srvr": "srvr_standalone.txt"}


def run_module(main: Callable[[], None], args: dict, capsys: pytest.CaptureFixture[str]) -> tuple[bool, dict]:
    """Run a module's main() with ``args``; return (failed, result)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        main()
    result = json.loads(capsys.readouterr().out)
    return bool(exc.value.code) or bool(result.get("failed")), result


# ---------------------------------------------------------------------------------------------
# A canned Mesos master (HTTP) for the mesos_* module and module_utils tests
# ---------------------------------------------------------------------------------------------

Handler = Callable[[str, str, dict, bytes], tuple[int, dict, bytes]]


class FakeMesos:
    """Answers ``(method, path)`` from ``routes`` (path includes the query); records every request."""

    def __init__(self, routes: dict[tuple[str, str], Handler | tuple[int, dict, object]] | None = None) -> None:
        self.routes: dict = dict(routes or {})
        self.requests: list[dict] = []
        fake = self

        class _H(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
                route = fake.routes.get((self.command, self.path))
                if route is None:
                    status, out_headers, payload = 404, {}, b""
                elif callable(route):
                    status, out_headers, payload = route(self.command, self.path, headers, body)
                else:
                    status, out_headers, obj = route
                    payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode() if obj is not None else b""
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def posts(self, path: str) -> list:
        return [json.loads(r["body"]) for r in self.requests if r["method"] == "POST" and r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Closable(Protocol):
    def close(self) -> None:
        """Stop serving."""


S = TypeVar("S", bound=_Closable)


@contextlib.contextmanager
def fake_servers(server_class: Callable[[dict | None], S]) -> Iterator[Callable[..., S]]:
    """A factory of fake servers (``make(routes)``) of ``server_class``; every one is closed on exit."""
    servers: list[S] = []

    def make(routes: dict | None = None) -> S:
        servers.append(server_class(routes))
        return servers[-1]

    try:
        yield make
    finally:
        for srv in servers:
            srv.close()


def fake_mesos_servers() -> contextlib.AbstractContextManager[Callable[..., FakeMesos]]:
    """A factory of FakeMesos servers (``make(routes)``); every one is closed on exit."""
    return fake_servers(FakeMesos)


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (with this test's sys.path).

    For import-cost checks: what a module pulls in is what every run of it pays for.
    """
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))
