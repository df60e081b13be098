"""A canned Marathon (HTTP on 127.0.0.1) for the marathon_* unit tests.

Answers come from Marathon's own documentation: the example payloads of
docs/docs/rest-api/public/api/v2/examples (copies in /work/shared/reference/marathon/examples,
or $MARATHON_REFERENCE_DIR) and the RAML's documented answers (409, 422, 404 bodies).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import fake_servers

REFERENCE = Path(os.environ.get("MARATHON_REFERENCE_DIR", "/work/shared/reference/marathon"))


def example(name: str):
    """A documented example payload (examples/<name>)."""
    return json.loads((REFERENCE / "examples" / name).read_text(encoding="utf-8"))


# apps.raml, 409 of a deployable write (traits.raml "deployable").
LOCKED = {
    "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
    "deployments": [{"id": "97c136bf-5a28-4821-9d94-480d9fbb01c8"}],
}
# apps.raml, 422 of PUT /v2/apps/{app_id}.
INVALID = {
    "message": "Object is not valid",
    "details": [{"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]}],
}

Route = Callable[[str, str, dict, bytes], tuple[int, dict, object]] | tuple[int, dict, object]


class FakeMarathon:
    """Answers ``(method, path)`` (path with its query) from ``routes``; records every request.

    A route is ``(status, headers, body)`` or a callable ``(method, path, headers, body)``
    returning one; a list of them is answered in order (the last one repeats).
    """

    def __init__(self, routes: dict | None = None) -> None:
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
                if isinstance(route, list):
                    route = route.pop(0) if len(route) > 1 else route[0]
                if route is None:
                    status, out_headers, obj = 404, {}, {"message": f"no route {self.command} {self.path}"}
                elif callable(route):
                    status, out_headers, obj = route(self.command, self.path, headers, body)
                else:
                    status, out_headers, obj = route
                payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode() if obj is not None else b""
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self) -> list[dict]:
        return [r for r in self.requests if r["method"] != "GET"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fake_marathons() -> contextlib.AbstractContextManager[Callable[..., FakeMarathon]]:
    """A factory of FakeMarathon servers (``make(routes)``); every one is closed on exit."""
    return fake_servers(FakeMarathon)


def served_app(definition: dict, **server_fields: object) -> dict:
    """``GET /v2/apps/{id}``'s app for ``definition``: Marathon's defaults and server fields filled in.

    Defaults as app.raml gives them (Marathon 1.10); server fields as app_list.json shows them;
    a service port assigned for every ``port: 0`` (from local_port_min 10000 of info.json).
    """
    app = {
        "instances": 1,
        "cpus": 1,
        "mem": 128,
        "disk": 0,
        "gpus": 0,
        "executor": "",
        "constraints": [],
        "uris": [],
        "fetch": [],
        "storeUrls": [],
        "backoffSeconds": 1,
        "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 300,
        "container": None,
        "healthChecks": [],
        "readinessChecks": [],
        "dependencies": [],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "labels": {},
        "acceptedResourceRoles": None,
        "args": None,
        "user": None,
        "env": {},
        "secrets": {},
        "requirePorts": False,
        "killSelection": "YOUNGEST_FIRST",
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
        "networks": [{"mode": "host"}],
        "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "default", "labels": {}}],
        "role": "*",
    }
    app.update(copy.deepcopy(definition))
    for i, port_def in enumerate(app.get("portDefinitions") or []):
        port_def.setdefault("protocol", "tcp")
        port_def.setdefault("labels", {})
        if not port_def.get("port"):
            port_def["port"] = 10000 + i
    for hc in app.get("healthChecks") or []:
        for key, value in {
            "gracePeriodSeconds": 300,
            "intervalSeconds": 60,
            "timeoutSeconds": 20,
            "maxConsecutiveFailures": 3,
            "delaySeconds": 15,
            "ignoreHttp1xx": False,
            "ipProtocol": "IPv4",
        }.items():
            hc.setdefault(key, value)
    app.update(
        {
            "version": "2015-09-25T15:13:48.343Z",
            "versionInfo": {
                "lastScalingAt": "2015-09-25T15:13:48.343Z",
                "lastConfigChangeAt": "2015-09-25T15:13:48.343Z",
            },
            "tasksStaged": 0,
            "tasksRunning": app["instances"],
            "tasksHealthy": 0,
            "tasksUnhealthy": 0,
            "deployments": [],
        }
    )
    app.update(server_fields)
    return app
