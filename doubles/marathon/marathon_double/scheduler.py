# ruff: noqa: PLR0912, PLR0915 - TaskBuilder's steps in one place
"""Instances, offers and Mesos tasks of the Marathon PROTOCOL DOUBLE.

Upstream (mesosphere/marathon v1.10.26): core/instance/Instance.scala (instance ids
``<safePath>.instance-<uuid>``), core/task/Task.scala (task ids
``<safePath>.instance-<uuid>._app.<incarnation>``, first incarnation 1),
tasks/TaskBuilder.scala and mesos/EnvironmentHelper.scala (the task's environment: ``HOST``,
``PORT0..``, ``PORT_<NAME>``, ``PORTS``, ``PORT`` (first port), ``MESOS_TASK_ID``,
``MARATHON_APP_ID``, ``MARATHON_APP_VERSION``, ``MARATHON_APP_DOCKER_IMAGE``,
``MARATHON_APP_RESOURCE_CPUS/MEM/DISK/GPUS``, ``MARATHON_APP_LABELS`` and
``MARATHON_APP_LABEL_<NAME>``), mesos/ResourceMatcher.scala and PortsMatcher.scala (cpus, mem,
disk and ports taken from the offer, the offer's ``hostname``), core/health/MesosHealthCheck
(MESOS_HTTP/MESOS_TCP/COMMAND become the TaskInfo's HealthCheck; HTTP/TCP are run by
Marathon itself: core/health/impl/HealthCheckWorker.scala, a 2xx/3xx answer is healthy),
core/launchqueue/impl/RateLimiter.scala (backoff: ``backoffSeconds`` doubled by
``backoffFactor`` after each failure up to ``maxLaunchDelaySeconds``), core/matcher and
MarathonScheduler (DECLINE with ``refuse_seconds`` = ``--decline_offer_duration``, REVIVE
when there is something to launch, SUPPRESS when not: core/launchqueue/impl/ReviveOffersStreamLogic),
core/task/update and TaskStatusUpdateProcessor (ACKNOWLEDGE every update with a uuid),
SchedulerActions.reconcileTasks (explicit reconciliation of known tasks, then implicit).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .apps import port_specs, safe_path
from .common import log, timestamp

TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
}


@dataclass
class Instance:
    id: str
    app_id: str
    version: str  # the app version it was launched with
    config: str  # versionInfo.lastConfigChangeAt it was launched with
    task_id: str
    agent_id: str = ""
    host: str = ""
    ports: list[int] = field(default_factory=list)
    state: str = "TASK_STAGING"
    healthy: bool | None = None
    staged_at: float = field(default_factory=time.time)
    started_at: float | None = None
    kill_requested: bool = False
    confirmed: bool = False  # a status update arrived (upstream: Condition.Provisioned until then)
    ip_addresses: list[dict] = field(default_factory=list)
    failures: int = 0  # consecutive Marathon-side health check failures
    checked_at: float = 0.0

    @property
    def alive(self) -> bool:
        return self.state not in TERMINAL

    def ready(self, app: dict) -> bool:
        # A running instance counts; with health checks only a healthy one.
        if self.state != "TASK_RUNNING" or self.kill_requested:
            return False
        return bool(self.healthy) if app.get("healthChecks") else True

    def task_json(self, app: dict) -> dict:
        # raml Task (AppTasksResource / TasksResource, EnrichedTask)
        out: dict[str, Any] = {
            "appId": self.app_id,
            "healthCheckResults": [],
            "host": self.host,
            "id": self.task_id,
            "ipAddresses": self.ip_addresses,
            "ports": self.ports,
            "servicePorts": [int(s.get("port") or s.get("servicePort") or 0) for s in port_specs(app)],
            "slaveId": self.agent_id,
            "state": self.state,
            "stagedAt": timestamp(self.staged_at),
            "version": self.version,
            "localVolumes": [],
            "role": app.get("role", "*"),
        }
        if self.started_at:
            out["startedAt"] = timestamp(self.started_at)
        if app.get("healthChecks") and self.healthy is not None:
            out["healthCheckResults"] = [
                {
                    "alive": self.healthy,
                    "consecutiveFailures": 0 if self.healthy else self.failures,
                    "instanceId": self.id,
                    "lastSuccess": timestamp() if self.healthy else None,
                    "lastFailure": None if self.healthy else timestamp(),
                }
            ]
        return out


def new_instance(app: dict) -> Instance:
    # Instance.Id.forRunSpec + Task.Id(instanceId): first incarnation.
    instance_id = f"{safe_path(app['id'])}.instance-{uuid.uuid4()}"
    return Instance(
        id=instance_id,
        app_id=app["id"],
        version=app["version"],
        config=app["versionInfo"]["lastConfigChangeAt"],
        task_id=f"{instance_id}._app.1",
    )


def _scalar(resources: list[dict], name: str) -> float:
    return sum(r.get("scalar", {}).get("value", 0.0) for r in resources if r["name"] == name)


def _ports(resources: list[dict]) -> list[int]:
    out: list[int] = []
    for r in resources:
        if r["name"] == "ports":
            for rng in r.get("ranges", {}).get("range", []):
                out.extend(range(int(rng["begin"]), int(rng["end"]) + 1))
    return out


class Offer:
    """What is left of one offer while instances are matched to it (ResourceMatcher)."""

    def __init__(self, offer: dict, role: str) -> None:
        self.offer = offer
        res = [r for r in offer.get("resources", []) if r.get("role", "*") in ("*", role)]
        self.cpus = _scalar(res, "cpus")
        self.mem = _scalar(res, "mem")
        self.disk = _scalar(res, "disk")
        self.ports = _ports(res)
        self.tasks: list[dict] = []

    def fits(self, app: dict, n_ports: int) -> bool:
        return (
            self.cpus + 1e-9 >= app["cpus"]
            and self.mem + 1e-9 >= app["mem"]
            and self.disk + 1e-9 >= app.get("disk", 0)
            and len(self.ports) >= n_ports
        )


def host_ports_needed(app: dict) -> list[int | None]:
    """One entry per host port the app needs: a fixed number or None (any from the offer)."""
    container = app.get("container") or {}
    mode = (app.get("networks") or [{"mode": "host"}])[0].get("mode")
    if mode == "host":
        if app.get("requirePorts"):
            return [int(pd["port"]) for pd in app.get("portDefinitions", [])]
        return [None for _pd in app.get("portDefinitions", [])]
    needed: list[int | None] = []
    for pm in container.get("portMappings") or []:
        if "hostPort" in pm:
            needed.append(int(pm["hostPort"]) or None)
    return needed


def build_task(app: dict, inst: Instance, offer: Offer, prefix: str | None) -> dict | None:
    """The TaskInfo (TaskBuilder) of one instance, taking resources from ``offer``; None if it does not fit."""
    needed = host_ports_needed(app)
    if not offer.fits(app, len(needed)):
        return None
    ports: list[int] = []
    pool = list(offer.ports)
    for want in needed:
        if want is None:
            ports.append(pool.pop(0))
        elif want in pool:
            pool.remove(want)
            ports.append(want)
        else:
            return None
    offer.ports = pool
    offer.cpus -= app["cpus"]
    offer.mem -= app["mem"]
    offer.disk -= app.get("disk", 0)
    host = offer.offer["hostname"]
    inst.agent_id = offer.offer["agent_id"]["value"]
    inst.host = host
    inst.ports = ports
    env = _environment(app, inst, ports, host, prefix)
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": float(app["cpus"])}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": float(app["mem"])}, "role": "*"},
    ]
    if app.get("disk"):
        resources.append({"name": "disk", "type": "SCALAR", "scalar": {"value": float(app["disk"])}, "role": "*"})
    if ports:
        ranges = [{"begin": p, "end": p} for p in ports]
        resources.append({"name": "ports", "type": "RANGES", "ranges": {"range": ranges}, "role": "*"})
    task: dict[str, Any] = {
        "name": safe_path(app["id"]).replace("_", "."),  # TaskBuilder: runSpec.id.toHostname
        "task_id": {"value": inst.task_id},
        "agent_id": {"value": inst.agent_id},
        "resources": resources,
        "labels": {"labels": [{"key": k, "value": str(v)} for k, v in app.get("labels", {}).items()]},
    }
    command: dict[str, Any] = {"environment": {"variables": [{"name": k, "value": v} for k, v in env.items()]}}
    if app.get("cmd"):
        command.update(shell=True, value=app["cmd"])  # noqa: S604 - a CommandInfo, not a call
    elif app.get("args"):
        command.update(shell=False, arguments=list(app["args"]))
    else:
        command["shell"] = False
    task["command"] = command
    container = app.get("container") or {}
    docker = container.get("docker")
    if docker:
        mode = (app.get("networks") or [{"mode": "host"}])[0].get("mode")
        dinfo: dict[str, Any] = {
            "image": docker["image"],
            "network": "HOST" if mode == "host" else "BRIDGE" if mode == "container/bridge" else "USER",
            "privileged": bool(docker.get("privileged")),
            "force_pull_image": bool(docker.get("forcePullImage")),
            "parameters": [{"key": p["key"], "value": p["value"]} for p in docker.get("parameters", [])],
        }
        if mode != "host":
            mappings = []
            host_iter = iter(ports)
            for pm in container.get("portMappings") or []:
                if "hostPort" in pm:
                    mappings.append(
                        {
                            "host_port": next(host_iter),
                            "container_port": int(pm.get("containerPort", 0)),
                            "protocol": pm.get("protocol", "tcp"),
                        }
                    )
            dinfo["port_mappings"] = mappings
        task["container"] = {"type": "DOCKER", "docker": dinfo}
        if app.get("args") and not app.get("cmd"):
            command["shell"] = False
    check = mesos_health_check(app, ports)
    if check:
        task["health_check"] = check
    if app.get("taskKillGracePeriodSeconds"):
        task["kill_policy"] = {"grace_period": {"nanoseconds": int(app["taskKillGracePeriodSeconds"] * 1e9)}}
    offer.tasks.append(task)
    return task


def _environment(app: dict, inst: Instance, ports: list[int], host: str, prefix: str | None) -> dict[str, str]:
    # EnvironmentHelper.portsEnv (hostPorts: the offer's ports of the specs that have one;
    # requested: container ports with mappings, else the portDefinitions' ports), then
    # taskContextEnv and appInfoEnv; the app's own env is applied last.
    env: dict[str, str] = {}
    pre = prefix or ""
    specs = port_specs(app)
    host_mode = (app.get("networks") or [{"mode": "host"}])[0].get("mode") == "host"
    given = iter(ports)
    host_ports: list[int | None] = []
    requested: list[tuple[str | None, int]] = []
    for spec in specs:
        has_host = host_mode or "hostPort" in spec
        host_ports.append(next(given) if has_host else None)
        requested.append((spec.get("name"), int(spec.get("port" if host_mode else "containerPort") or 0)))
    if host_ports:
        for i, hport in enumerate(host_ports):
            if hport is not None:
                env[f"{pre}PORT{i}"] = str(hport)
            elif requested[i][1]:
                env[f"{pre}PORT{i}"] = str(requested[i][1])
        for (name, want), hport in zip(requested, host_ports, strict=True):
            effective = hport if hport is not None else want
            if effective:
                env[f"{pre}PORT_{want or effective}"] = str(effective)
            if name and effective:
                env[f"{pre}PORT_{name.upper()}"] = str(effective)
        assigned = [p for p in host_ports if p is not None]
        if assigned:
            env[f"{pre}PORT"] = str(assigned[0])
        env[f"{pre}PORTS"] = ",".join(str(p) for p in assigned)
    env[f"{pre}HOST"] = host
    env["MESOS_TASK_ID"] = inst.task_id
    env["MARATHON_APP_ID"] = app["id"]
    env["MARATHON_APP_VERSION"] = app["version"]
    image = ((app.get("container") or {}).get("docker") or {}).get("image")
    if image:
        env["MARATHON_APP_DOCKER_IMAGE"] = image
    env["MARATHON_APP_RESOURCE_CPUS"] = str(float(app["cpus"]))
    env["MARATHON_APP_RESOURCE_MEM"] = str(float(app["mem"]))
    env["MARATHON_APP_RESOURCE_DISK"] = str(float(app.get("disk", 0)))
    env["MARATHON_APP_RESOURCE_GPUS"] = str(int(app.get("gpus", 0)))
    labels = app.get("labels", {})
    # EnvironmentHelper.labelsToEnvVars: names escaped ([^a-zA-Z0-9_]+ -> _) and upper-cased.
    escaped = {re.sub(r"[^a-zA-Z0-9_]+", "_", k).upper(): str(v) for k, v in labels.items()}
    env["MARATHON_APP_LABELS"] = " ".join(escaped)
    for key, value in escaped.items():
        env[f"MARATHON_APP_LABEL_{key}"] = value
    for key, value in (app.get("env") or {}).items():
        if isinstance(value, str):
            env[key] = value
    return env


def _check_port(check: dict, ports: list[int], app: dict) -> int:
    if check.get("port"):
        return int(check["port"])
    index = int(check.get("portIndex", 0))
    mode = (app.get("networks") or [{"mode": "host"}])[0].get("mode")
    if mode != "host" and check["protocol"].startswith("MESOS_"):
        # MESOS_* checks run in the container's network: the container port.
        specs = port_specs(app)
        return int(specs[index].get("containerPort") or ports[index])
    return ports[index] if index < len(ports) else 0


def mesos_health_check(app: dict, ports: list[int]) -> dict | None:
    # core/health/MesosHealthCheck.scala: MesosHttpHealthCheck/MesosTcpHealthCheck/MesosCommandHealthCheck.
    for check in app.get("healthChecks", []):
        proto = check["protocol"]
        if proto not in ("MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "COMMAND"):
            continue
        out: dict[str, Any] = {
            "delay_seconds": float(check.get("delaySeconds", 15)),
            "interval_seconds": float(check["intervalSeconds"]),
            "timeout_seconds": float(check["timeoutSeconds"]),
            "consecutive_failures": int(check["maxConsecutiveFailures"]),
            "grace_period_seconds": float(check["gracePeriodSeconds"]),
        }
        if proto == "COMMAND":
            out["type"] = "COMMAND"
            out["command"] = {"shell": True, "value": check["command"]["value"]}
        elif proto == "MESOS_TCP":
            out["type"] = "TCP"
            out["tcp"] = {"port": _check_port(check, ports, app)}
        else:
            out["type"] = "HTTP"
            out["http"] = {
                "port": _check_port(check, ports, app),
                "path": check.get("path", "/"),
                "scheme": "https" if proto == "MESOS_HTTPS" else "http",
            }
        return out
    return None


def marathon_check(check: dict, inst: Instance, app: dict) -> bool:
    """One run of a Marathon-side HTTP/HTTPS/TCP check (HealthCheckWorker)."""
    port = _check_port(check, inst.ports, app)
    timeout = float(check["timeoutSeconds"])
    try:
        if check["protocol"] == "TCP":
            with socket.create_connection((inst.host, port), timeout=timeout):
                return True
        scheme = "https" if check["protocol"] == "HTTPS" else "http"
        url = f"{scheme}://{inst.host}:{port}{check.get('path', '/')}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the task's own URL
            return 200 <= resp.status < 400
    except Exception:
        return False


class Backoff:
    """RateLimiter: delay after each failed launch, grown by backoffFactor, capped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delays: dict[str, tuple[float, float]] = {}  # app id -> (delay, until)

    def failed(self, app: dict) -> None:
        with self._lock:
            delay, _until = self._delays.get(app["id"], (0.0, 0.0))
            delay = (
                float(app["backoffSeconds"])
                if delay == 0
                else min(delay * float(app["backoffFactor"]), float(app["maxLaunchDelaySeconds"]))
            )
            self._delays[app["id"]] = (delay, time.monotonic() + delay)
            log(f"Backoff of {app['id']}: {delay:.2f}s")

    def reset(self, app_id: str) -> None:
        with self._lock:
            self._delays.pop(app_id, None)

    def until(self, app_id: str) -> float:
        with self._lock:
            return self._delays.get(app_id, (0.0, 0.0))[1]

    def delay_json(self, app_id: str) -> dict:
        left = max(0.0, self.until(app_id) - time.monotonic())
        return {"timeLeftSeconds": int(left + 0.999), "overdue": left <= 0}
