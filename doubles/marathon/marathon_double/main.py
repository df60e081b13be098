"""Entry point of the Marathon PROTOCOL DOUBLE: flags, ZooKeeper, HTTP, leadership.

Upstream (mesosphere/marathon v1.10.26): Main.scala (flags from ``MARATHON_*`` then the command
line; "Invalid command line flag": exit 112), MarathonApp/MarathonSchedulerService (the HTTP
server starts at once on every instance; the leader runs the scheduler), HttpConf
(``--http_address``, ``--http_port``; ``--disable_http`` with HTTPS only; ``--http_credentials``
``user:password`` for HTTP Basic auth: 401 with ``WWW-Authenticate: Basic realm="Mesosphere"``),
api/LeaderProxyFilter.scala (standbys proxy, /v2/events is redirected).
"""

from __future__ import annotations

import base64
import hmac
import os
import signal
import socket
import sys
import threading
from typing import Any

from .api import Api
from .common import DOUBLE_BANNER, EXIT_INVALID_FLAG, MARATHON_VERSION, log
from .core import Core
from .events import EventBus
from .flags import SPECS, FlagError, parse
from .web import Request, Response, forward, serve, wait_for_leader
from .zkstore import ZkStore


def usage() -> str:
    lines = [DOUBLE_BANNER.format(version=MARATHON_VERSION), "", "Flags (Marathon 1.10 names):"]
    for name, spec in sorted(SPECS.items()):
        lines.append(f"  --{name}" + ("" if spec.kind in ("toggle", "bool") else f" <{spec.kind}>"))
    return "\n".join(lines)


class Marathon:
    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        if not flags["hostname"]:
            flags["hostname"] = socket.gethostname()
        self.host_port = f"{flags['hostname']}:{flags['http_port']}"
        self.bus = EventBus(flags["event_stream_max_outstanding_messages"])
        self.store = ZkStore(flags["zk"], flags["zk_session_timeout"], self.host_port)
        self.core = Core(flags, self.store, self.bus)
        self.api = Api(flags, self.core, self.host_port, self.store.abdicate)
        self.credentials = flags["http_credentials"] or os.environ.get("MESOSPHERE_HTTP_CREDENTIALS")
        self._elected = threading.Lock()

    def run(self) -> None:
        if self.flags["ssl_keystore_path"]:
            log("HTTPS (--ssl_keystore_path) is not served by the double: Java keystores cannot be read", "WARN")
        if self.flags["disable_http"]:
            log("--disable_http given: the double serves no API at all", "WARN")
        else:
            serve(self.flags["http_address"] or "0.0.0.0", self.flags["http_port"], self.route)  # noqa: S104
        self.store.leader_changed = self._leader_changed
        self.store.join()
        # SIGTERM: the JVM's shutdown hooks close the leader latch (CuratorElectionStream's
        # beforeClose hook), so a standby takes over at once; the JVM then exits 143.
        signal.signal(signal.SIGTERM, self._terminate)
        threading.Event().wait()

    def _terminate(self, _signum: int, _frame: Any) -> None:
        log("Received SIGTERM: closing the leader latch and exiting")
        try:
            self.store.abdicate()
        finally:
            os._exit(143)

    def _leader_changed(self) -> None:
        if self.store.is_leader and not self.core.started:
            with self._elected:
                if not self.core.started:
                    log(f"Elected as leader: {self.host_port}")
                    self.core.start()

    def _authorized(self, req: Request) -> bool:
        # HttpConf --http_credentials: HTTP Basic against user:password.
        if not self.credentials:
            return True
        header = req.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return hmac.compare_digest(given, self.credentials)

    def route(self, req: Request) -> Response:
        if not self._authorized(req):
            return Response(401, b"", None, {"WWW-Authenticate": f'Basic realm="{self.flags["http_realm"]}"'})
        if self.store.is_leader and self.core.started:
            if req.path.rstrip("/") == "/v2/events":
                resp = self.events(req)
            else:
                resp = self.api.route(req)
            resp.headers["X-Marathon-Leader"] = f"http://{self.host_port}"
            return resp
        leader = self.store.leader
        if not leader or leader == self.host_port:
            leader = wait_for_leader(lambda: self.store.leader, self.host_port)
            if self.store.is_leader and self.core.started:
                return self.route(req)
            if not leader:
                return Response.message(502, "Could not determine the current leader")
        if req.path.rstrip("/") == "/v2/events":
            query = f"?{req.query}" if req.query else ""
            return Response(302, b"", None, {"Location": f"http://{leader}{req.path}{query}"})
        return forward(req, leader, self.host_port, self.flags["leader_proxy_read_timeout"] / 1000.0)

    def events(self, req: Request) -> Response:
        # HttpEventStreamServlet extends Jetty's EventSourceServlet: only a request with an
        # Accept header equal to text/event-stream opens a stream; anything else falls through
        # to HttpServlet.doGet (405). The stream: text/event-stream, UTF-8, Connection: close.
        if "text/event-stream" not in [a.strip() for a in req.headers.get_all("Accept", [])]:
            return Response(405, b"HTTP method GET is not supported by this URL", "text/plain")
        wanted = {v for value in req.params("event_type") for v in value.split(",") if v}
        stream = self.bus.attach(req.client, wanted)
        return Response(
            200, content_type="text/event-stream;charset=utf-8", headers={"Connection": "close"}, stream=stream
        )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        flags = parse(args)
    except FlagError as exc:
        log(f"Invalid command line flag: [scallop] Error: {exc}", "ERROR")
        sys.stderr.write(f"[scallop] Error: {exc}\n")
        return EXIT_INVALID_FLAG
    if flags["help"]:
        print(usage())
        return 0
    if flags["version"]:
        print(MARATHON_VERSION)
        return 0
    log(DOUBLE_BANNER.format(version=MARATHON_VERSION).replace("\n", " "))
    Marathon(flags).run()
    return 0
