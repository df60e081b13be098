# ruff: noqa: PLR0912 - one branch per field and rule, in upstream's order
"""App definitions as Marathon 1.10 reads, checks, normalises and writes them.

Upstream (mesosphere/marathon v1.10.26): docs/docs/rest-api/public/api/v2/types/app.raml and
healthCheck.raml (fields, defaults, ranges: Play JSON reads fail with "Invalid JSON" and keys
such as ``error.min``, ``error.expected.jsnumber``, ``error.path.missing``, answered 422 by
api/MarathonExceptionMapper.scala for JsResultException), raml/AppConversion.scala and
api/v2/AppNormalization.scala (canonical form: ``networks``, ``container.portMappings``,
legacy ``container.docker.network``/``docker.portMappings`` moved there, default
``portDefinitions`` ``[{port: 0, name: "default"}]`` for host networking), api/v2/validation/
AppValidation.scala and api/v2/Validation.scala (422 ``{"message": "Object is not valid",
"details": [{"path", "errors"}]}``), state/PathId.scala (ids, ``safePath``),
api/v2/AppHelpers.scala ``updateOrCreate`` (partial update keeps omitted fields) and
state/AppDefinition.scala ``isUpgrade``/``needsRestart`` (only an ``instances`` change is a
scale). Unknown fields are ignored, as upstream's RAML reads ignore them.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

# raml/v2/types/app.raml defaults (1.10)
APP_DEFAULTS: dict[str, Any] = {
    "backoffFactor": 1.15,
    "backoffSeconds": 1,
    "cpus": 1,
    "disk": 0,
    "executor": "",
    "instances": 1,
    "maxLaunchDelaySeconds": 300,
    "mem": 128,
    "gpus": 0,
    "requirePorts": False,
    "killSelection": "YOUNGEST_FIRST",
}
# raml/v2/types/app.raml App properties: anything else in a request is ignored.
APP_FIELDS = {
    "id", "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints", "container",
    "cpus", "dependencies", "disk", "env", "executor", "fetch", "healthChecks", "instances", "labels",
    "maxLaunchDelaySeconds", "mem", "gpus", "ipAddress", "ports", "portDefinitions", "readinessChecks", "residency",
    "requirePorts", "secrets", "taskKillGracePeriodSeconds", "upgradeStrategy", "uris", "user", "killSelection",
    "unreachableStrategy", "tty", "networks", "role", "check",
}  # fmt: skip
HEALTH_DEFAULTS = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "maxConsecutiveFailures": 3,
    "timeoutSeconds": 20,
    "delaySeconds": 15,
}
HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
RESERVED = ("restart", "tasks", "versions", ".", "..")
_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$")


class JsonErrors(Exception):
    """Play JsResultException: 422 "Invalid JSON" when every error is a validation error."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("Invalid JSON")
        self.errors = errors

    def body(self) -> dict:
        grouped: dict[str, list[str]] = {}
        for path, err in self.errors:
            grouped.setdefault(path, [])
            if err not in grouped[path]:
                grouped[path].append(err)
        return {"message": "Invalid JSON", "details": [{"path": p, "errors": e} for p, e in grouped.items()]}


class Invalid(Exception):
    """ValidationFailedException: 422 "Object is not valid" (Validation.failureWrites)."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("Object is not valid")
        self.violations = violations

    def body(self) -> dict:
        grouped: dict[str, list[str]] = {}
        for path, err in self.violations:
            grouped.setdefault(path, []).append(err)
        return {"message": "Object is not valid", "details": [{"path": p, "errors": e} for p, e in grouped.items()]}


def canonical_id(raw: str, base: str = "/") -> str:
    # PathId(...).canonicalPath(base): relative ids are resolved against the base ("foo" -> "/foo").
    parts = [p for p in raw.split("/") if p]
    if not raw.startswith("/"):
        parts = [p for p in base.split("/") if p] + parts
    out: list[str] = []
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        elif part != ".":
            out.append(part)
    return "/" + "/".join(out)


def safe_path(app_id: str) -> str:
    # PathId.safePath: the path's elements joined with "_".
    return "_".join(p for p in app_id.split("/") if p)


# ---- reads (Play JSON: types and ranges) ---------------------------------------------------

_NUMBERS = {
    # field: (minimum, maximum, integer)
    "instances": (0, None, True),
    "cpus": (0.001, None, False),
    "mem": (0, None, False),
    "disk": (0, None, False),
    "gpus": (0, None, True),
    "backoffSeconds": (0, None, True),
    "backoffFactor": (1.0, None, False),
    "maxLaunchDelaySeconds": (0, None, True),
    "taskKillGracePeriodSeconds": (0, None, True),
}


def _check_number(errors: list, path: str, value: Any, low: float | None, high: float | None, integer: bool) -> None:  # noqa: PLR0917
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append((path, "error.expected.jsnumber"))
        return
    if integer and value != int(value):
        errors.append((path, "error.expected.int"))
        return
    if low is not None and value < low:
        errors.append((path, "error.min"))
    if high is not None and value > high:
        errors.append((path, "error.max"))


def read_app(obj: Any, require_id: bool) -> dict:
    """The raml.App reads: types and ranges of the fields a client sends (JsonErrors)."""
    if not isinstance(obj, dict):
        raise JsonErrors([("", "error.expected.jsobject")])
    errors: list[tuple[str, str]] = []
    if "id" not in obj or obj.get("id") is None:
        if require_id:
            errors.append(("/id", "error.path.missing"))
    elif not isinstance(obj["id"], str):
        errors.append(("/id", "error.expected.jsstring"))
    for name, (low, high, integer) in _NUMBERS.items():
        if obj.get(name) is not None:
            _check_number(errors, f"/{name}", obj[name], low, high, integer)
    for name in ("cmd", "user", "executor", "role"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            errors.append((f"/{name}", "error.expected.jsstring"))
    for name in ("labels", "env"):
        if obj.get(name) is not None and not isinstance(obj[name], dict):
            errors.append((f"/{name}", "error.expected.jsobject"))
    strategy = obj.get("upgradeStrategy")
    if strategy is not None:
        if not isinstance(strategy, dict):
            errors.append(("/upgradeStrategy", "error.expected.jsobject"))
        else:
            for key in ("minimumHealthCapacity", "maximumOverCapacity"):
                if key in strategy:
                    _check_number(errors, f"/upgradeStrategy/{key}", strategy[key], 0.0, 1.0, False)
    for i, check in enumerate(obj.get("healthChecks") or []):
        if not isinstance(check, dict):
            errors.append((f"/healthChecks({i})", "error.expected.jsobject"))
            continue
        if "protocol" in check and check["protocol"] not in HEALTH_PROTOCOLS:
            errors.append((f"/healthChecks({i})/protocol", "error.unknown.enum.literal"))
        for key in HEALTH_DEFAULTS:
            if key in check:
                _check_number(errors, f"/healthChecks({i})/{key}", check[key], 0, None, True)
    if errors:
        raise JsonErrors(errors)
    return obj


# ---- normalisation (AppNormalization + AppConversion) --------------------------------------


def _network_mode(app: dict) -> str:
    nets = app.get("networks") or [{"mode": "host"}]
    return str(nets[0].get("mode", "container"))


def normalize(raw: dict, app_id: str, role: str) -> dict:
    """The canonical app as GET returns it (without the server's counters)."""
    app = copy.deepcopy({k: v for k, v in raw.items() if v is not None and k in APP_FIELDS})
    app["id"] = app_id
    for key, value in APP_DEFAULTS.items():
        app.setdefault(key, value)
    for key in ("labels", "env", "secrets"):
        app.setdefault(key, {})
    for key in ("constraints", "dependencies", "fetch", "healthChecks", "readinessChecks"):
        app.setdefault(key, [])
    strategy = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    strategy.update(app.get("upgradeStrategy") or {})
    app["upgradeStrategy"] = strategy
    app.setdefault("unreachableStrategy", {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
    app.setdefault("role", role)
    app.pop("ports", None)  # legacy: becomes portDefinitions
    container = app.get("container")
    if container:
        container.setdefault("type", "DOCKER")
        container.setdefault("volumes", [])
        docker = container.get("docker")
        if docker is not None:
            docker.setdefault("forcePullImage", False)
            docker.setdefault("privileged", False)
            docker.setdefault("parameters", [])
            legacy = docker.pop("network", None)  # AppNormalization: docker.network -> networks
            if legacy and "networks" not in app:
                app["networks"] = [{"mode": "container/bridge"} if legacy == "BRIDGE" else {"mode": "host"}]
                if legacy not in ("BRIDGE", "HOST"):
                    app["networks"] = [{"mode": "container"}]
            mappings = docker.pop("portMappings", None)
            if mappings is not None and "portMappings" not in container:
                container["portMappings"] = mappings
    if raw.get("ports") is not None and "portDefinitions" not in raw:
        app["portDefinitions"] = [{"port": p} for p in raw["ports"]]
    app.setdefault("networks", [{"mode": "host"}])
    if _network_mode(app) == "host":
        app.setdefault("portDefinitions", [{"port": 0, "name": "default"}])
        app["portDefinitions"] = [{"protocol": "tcp", "labels": {}, **pd} for pd in app["portDefinitions"]]
        if container is not None:
            # ContainerConversion.create: portMappings always written (empty with host networking).
            container.setdefault("portMappings", [])
    else:
        # AppConversion: no portDefinitions with non-host networking; AppNormalization gives
        # bridge mappings a hostPort of 0 (container networks keep none unless given).
        app.pop("portDefinitions", None)
        bridge = {"hostPort": 0} if _network_mode(app) == "container/bridge" else {}
        if container is not None:
            container["portMappings"] = [
                {"containerPort": 0, **bridge, "servicePort": 0, "protocol": "tcp", "labels": {}, **pm}
                for pm in container.get("portMappings") or []
            ]
    app["healthChecks"] = [_health_check(c) for c in app["healthChecks"]]
    return app


def _health_check(check: dict) -> dict:
    # raml AppHealthCheck defaults; HealthCheckConversion fills path, portIndex, ipProtocol.
    full = {**HEALTH_DEFAULTS, "protocol": "HTTP", **check}
    if full["protocol"] in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        full.setdefault("path", "/")
        full.setdefault("ipProtocol", "IPv4")
    if full["protocol"] in ("HTTP", "HTTPS"):
        full.setdefault("ignoreHttp1xx", False)
    if full["protocol"] != "COMMAND" and "port" not in full:
        full.setdefault("portIndex", 0)
    return full


def validate(app: dict) -> None:
    """AppValidation.validateCanonicalAppAPI, the rules a client meets (Invalid)."""
    violations: list[tuple[str, str]] = []
    segments = [p for p in app["id"].split("/") if p]
    if not segments:
        violations.append(("/", "must not be root"))
    else:
        # PathId.pathIdValidator: every segment fully matches the pattern; no reserved last segment.
        if not all(_SEGMENT.fullmatch(s) for s in segments):
            violations.append(("/id", f"must fully match regular expression '{_SEGMENT.pattern}'"))
        if segments[-1] in RESERVED:
            violations.append(
                ("/id", "must not end with any of the following reserved keywords: " + ", ".join(RESERVED))
            )
    if app.get("cmd") is not None and len(app["cmd"]) <= 1:
        violations.append(("/", "must not be an empty string"))
    cmd, args = bool(app.get("cmd")), bool(app.get("args"))
    container = app.get("container") or {}
    has_container = bool(container.get("docker")) or container.get("type") == "MESOS"
    if not ((cmd ^ args) or (not (cmd and args) and has_container)):
        violations.append(("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."))
    if container.get("type") == "DOCKER" and not (container.get("docker") or {}).get("image"):
        violations.append(("/container/docker/image", "must not be empty"))
    mode = _network_mode(app)
    if mode == "host" and container.get("portMappings"):
        violations.append(("/", "portMappings are not allowed with host-networking"))
    names = [pd.get("name") for pd in app.get("portDefinitions", []) if pd.get("name")]
    if len(names) != len(set(names)):
        violations.append(("/portDefinitions", "Port names must be unique."))
    ports = [pd["port"] for pd in app.get("portDefinitions", []) if pd.get("port")]
    if len(ports) != len(set(ports)):
        violations.append(("/portDefinitions", "Ports must be unique."))
    n_ports = len(port_specs(app))
    mesos = 0
    for i, check in enumerate(app["healthChecks"]):
        if check["protocol"] == "COMMAND":
            if not (check.get("command") or {}).get("value"):
                violations.append((f"/healthChecks({i})/command", "must not be empty"))
        elif "port" not in check and not (0 <= check.get("portIndex", 0) < max(n_ports, 0)):
            violations.append(
                (
                    f"/healthChecks({i})",
                    "Health check port indices must address an element of the ports array or container port mappings.",
                )
            )
        if check["protocol"].startswith("MESOS_"):
            mesos += 1
    if mesos > 1:
        violations.append(("/", "AppDefinition can contain at most one Mesos health check"))
    if violations:
        raise Invalid(violations)


def port_specs(app: dict) -> list[dict]:
    """The app's ports in order: portDefinitions (host) or container portMappings."""
    if _network_mode(app) == "host":
        return list(app.get("portDefinitions") or [])
    return list((app.get("container") or {}).get("portMappings") or [])


def assign_service_ports(app: dict, used: set[int], low: int, high: int) -> None:
    # core/externalvolume... no: state/AppDefinition servicePorts via PortsMatcher/ServicePortsManager:
    # a 0 port (service port) gets a free one from --local_port_min..max.
    nxt = low
    specs = port_specs(app)
    key = "port" if _network_mode(app) == "host" else "servicePort"
    for spec in specs:
        if spec.get(key):
            used.add(int(spec[key]))
    for spec in specs:
        if not spec.get(key):
            while nxt in used and nxt < high:
                nxt += 1
            spec[key] = nxt
            used.add(nxt)


def merge_update(current: dict, update: dict) -> dict:
    # AppHelpers.updateOrCreate / AppUpdate: fields present in the update replace the app's.
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if (
            key not in APP_FIELDS
            or key in ("version", "versionInfo", "tasks", "deployments", "lastTaskFailure")
            or key.startswith("tasks")
        ):
            continue
        merged[key] = value
    if "container" in update and "networks" not in update and current.get("networks"):
        docker = (update.get("container") or {}).get("docker") or {}
        if "network" in docker:
            merged.pop("networks", None)
    return merged


def config_of(app: dict) -> dict:
    """What makes a restart: everything but instances and server-side fields (isUpgrade)."""
    skip = {"instances", "version", "versionInfo"}
    return {k: v for k, v in app.items() if k not in skip}


def min_healthy(app: dict) -> int:
    # TaskReplaceActor: ceil(instances * minimumHealthCapacity)
    return math.ceil(app["instances"] * app["upgradeStrategy"]["minimumHealthCapacity"])


def max_capacity(app: dict) -> int:
    # TaskReplaceActor: floor(instances * (1 + maximumOverCapacity))
    return math.floor(app["instances"] * (1 + app["upgradeStrategy"]["maximumOverCapacity"]))
