# ruff: noqa: PLR0911
"""The agent personality of the Mesos PROTOCOL DOUBLE (not Apache Mesos).

Follows src/slave/slave.cpp (registration, recovery, checkpoints, the master's messages),
src/slave/main.cpp (start-up checks), src/slave/containerizer/ (containerizer and isolator
checks) and src/slave/http.cpp. Tasks run as real Docker containers: agent_tasks.py (the
agent's task side), executor.py (the docker executor), containerizer.py, docker_engine.py,
health.py and status_updates.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from typing import Any

from .agent_tasks import TaskSide
from .channel import MASTER_TO_AGENT
from .common import (
    AGENT_CAPABILITIES,
    DOUBLE_AGENT_PATH,
    DOUBLE_BANNER,
    MESOS_VERSION,
    advertised_port,
    compact_json,
    die,
    log,
    resolve_hostname,
    resolve_ip,
)
from .flags import Flags
from .resources import (
    ResourceError,
    attributes_v0,
    default_resources,
    parse_attributes,
    parse_resources,
    resources_v0,
    scalar_total,
)
from .web import Request, Response, drop_empty, http_json, serve, v1_check_request, v1_flags, v1_version, version_json
from .zk import ZkUrl, detect_leader, make_zk_client, zk_url_for_contender

# --------------------------------------------------------------------------------------------
# Agent personality
# --------------------------------------------------------------------------------------------

# Isolator names the Mesos containerizer knows (src/slave/containerizer/mesos/containerizer.cpp).
KNOWN_ISOLATORS = {
    "filesystem/posix", "filesystem/linux", "filesystem/shared", "filesystem/windows",
    "posix/cpu", "posix/mem", "posix/disk", "posix/rlimits", "disk/du", "disk/xfs",
    "cgroups/all", "cgroups/blkio", "cgroups/cpu", "cgroups/cpuset", "cgroups/devices",
    "cgroups/hugetlb", "cgroups/mem", "cgroups/net_cls", "cgroups/net_prio", "cgroups/perf_event",
    "cgroups/pids", "appc/runtime", "docker/runtime", "docker/volume", "linux/devices",
    "linux/capabilities", "linux/nnp", "linux/seccomp", "namespaces/ipc", "namespaces/pid",
    "network/cni", "network/port_mapping", "network/ports", "gpu/nvidia", "volume/host_path",
    "volume/image", "volume/sandbox_path", "volume/secret", "volume/csi", "environment_secret",
    "windows/cpu", "windows/mem",
}  # fmt: skip
# cgroups isolator -> cgroup v1 subsystems it needs (src/slave/containerizer/mesos/isolators/
# cgroups/constants.hpp and cgroups.cpp).
CGROUPS_SUBSYSTEMS = {
    "cgroups/blkio": ["blkio"],
    "cgroups/cpu": ["cpu", "cpuacct"],
    "cgroups/cpuset": ["cpuset"],
    "cgroups/devices": ["devices"],
    "cgroups/hugetlb": ["hugetlb"],
    "cgroups/mem": ["memory"],
    "cgroups/net_cls": ["net_cls"],
    "cgroups/net_prio": ["net_prio"],
    "cgroups/perf_event": ["perf_event"],
    "cgroups/pids": ["pids"],
}


def docker_ping(socket_path: str, timeout: float = 3.0) -> str | None:
    """A real `GET /_ping` on the Docker engine's unix socket; None when it answers OK."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and data.endswith(b"OK"):
                break
    except OSError as exc:
        return f"Cannot connect to the Docker daemon at unix://{socket_path}: {exc.strerror or exc}"
    finally:
        sock.close()
    status = data.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        return f"Docker daemon at unix://{socket_path} answered '{status.decode('latin-1')}' to /_ping"
    return None


def check_cgroup_subsystem(hierarchy: str, subsystem: str) -> str | None:
    """What cgroups::prepare() needs: a cgroup v1 hierarchy '<hierarchy>/<subsystem>'."""
    mount = os.path.join(hierarchy, subsystem)
    if os.path.isfile(os.path.join(mount, "cgroup.procs")):
        return None
    if os.path.isfile(os.path.join(hierarchy, "cgroup.controllers")):
        # Mesos 1.x's cgroups isolators speak cgroup v1 only: a unified (v2) hierarchy is not
        # usable (the double refuses it, as the real agent fails to prepare the hierarchy).
        return (
            f"'{hierarchy}' is a cgroup v2 (unified) hierarchy; the cgroups isolator needs a cgroup v1 "
            f"hierarchy for subsystem '{subsystem}' at '{mount}'"
        )
    return f"Failed to mount cgroups hierarchy at '{mount}': '{subsystem}' is not available"


def write_atomically(path: str, data: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Agent:
    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.start_time = time.time()
        self.bind_ip, self.ip = resolve_ip(flags)
        self.port = int(flags["port"])
        self.port_advertised = advertised_port(flags, self.port)
        self.hostname = resolve_hostname(flags, self.ip)
        self.pid = f"slave(1)@{self.ip}:{self.port_advertised}"
        self.lock = threading.RLock()
        self.agent_id: str | None = None
        self.master: dict | None = None  # MasterInfo of the detected leader
        self.registered_with: str | None = None  # master id we are registered with
        self.master_id: str | None = None  # the registering master's answer (channel `master_id`)
        self.info: dict = {}
        self.meta_dir = os.path.join(flags["work_dir"], "meta")
        self.url: ZkUrl | None = None
        self.static_master: tuple[str, int] | None = None
        self.zk: Any = None
        self.counters = {"registered": 0.0, "recovery_errors": 0.0}
        # Tells the master which process is behind the pid (see Master.agent_channel): a
        # restarted agent has a new one, as a new libprocess link would.
        self.incarnation = uuid.uuid4().hex
        self.tasks = TaskSide(self, log)

    # ---- start-up (src/slave/main.cpp, slave.cpp) ---------------------------------------------
    def validate(self) -> None:
        f = self.flags
        if f["master"] is None and f["master_detector"] is None:
            die("Missing required option `--master` or `--master_detector`")
        if f["master"] is not None and f["master_detector"] is not None:
            die("Only one of `--master` or `--master_detector` should be specified")
        if f["ip_discovery_command"] and f["ip"]:
            die("Only one of `--ip` or `--ip_discovery_command` should be specified")
        if f["modules"] is not None and f["modules_dir"]:
            die("Only one of --modules or --modules_dir should be specified")
        if f["master_detector"] or f["modules"] is not None or f["modules_dir"]:
            die("Error loading modules: modules are not supported by the Mesos protocol double")
        self.check_containerizers()
        self.check_master()
        self.build_info()
        self.recover()
        self.recover_tasks()

    def check_containerizers(self) -> None:
        # src/slave/containerizer/containerizer.cpp Containerizer::create
        f = self.flags
        kinds = [k.strip() for k in f["containerizers"].split(",") if k.strip()]
        for kind in kinds:
            if kind not in ("mesos", "docker"):
                die(f"Failed to create a containerizer: Unknown or unsupported containerizer: {kind}")
        if "mesos" in kinds:
            error = self.check_isolation()
            if error:
                die(f"Failed to create a containerizer: Could not create MesosContainerizer: {error}")
        if "docker" in kinds:
            error = None
            docker = f["docker"]
            if not (shutil.which(docker) if "/" not in docker else os.access(docker, os.X_OK)):
                error = f"Failed to create docker: Failed to find docker executable '{docker}'"
            else:
                ping = docker_ping(f["docker_socket"])
                if ping:
                    error = f"Failed to create docker: Failed to get docker version: {ping}"
            if error:
                die(f"Failed to create a containerizer: Could not create DockerContainerizer: {error}")

    def check_isolation(self) -> str | None:
        f = self.flags
        names = [n.strip() for n in f["isolation"].split(",") if n.strip()]
        for name in names:
            if name not in KNOWN_ISOLATORS:
                return f"Unknown or unsupported isolator '{name}'"
        hierarchy = f["cgroups_hierarchy"]
        wanted = [n for n in names if n.startswith("cgroups/")]
        if "cgroups/all" in wanted:
            wanted = [n for n, subs in CGROUPS_SUBSYSTEMS.items() if os.path.isdir(os.path.join(hierarchy, subs[0]))]
            if not wanted:
                return f"Failed to create isolator 'cgroups/all': no cgroup v1 subsystem found under '{hierarchy}'"
        for name in wanted:
            for subsystem in CGROUPS_SUBSYSTEMS.get(name, []):
                error = check_cgroup_subsystem(hierarchy, subsystem)
                if error:
                    return (
                        f"Failed to create isolator '{name}': Failed to prepare hierarchy for subsystem "
                        f"'{subsystem}': {error}"
                    )
            if name == "cgroups/cpu" and f["cgroups_enable_cfs"]:
                # src/slave/containerizer/mesos/isolators/cgroups/subsystems/cpu.cpp
                if not os.path.exists(os.path.join(hierarchy, "cpu", "cpu.cfs_quota_us")):
                    return (
                        "Failed to create isolator 'cgroups/cpu': Failed to find 'cpu.cfs_quota_us'. "
                        "Your kernel might be too old to use the CFS cgroups feature."
                    )
        return None

    def check_master(self) -> None:
        # src/master/detector/detector.cpp MasterDetector::create
        value = self.flags["master"].strip()
        if value.startswith(("zk://", "file://")):
            try:
                self.url = zk_url_for_contender(value)
            except ValueError as exc:
                if not value.startswith("file://") or "Failed to read" in str(exc):
                    die(f"Failed to create a master detector: {exc}")
                # file:// holding host:port
                with open(value[7:], encoding="utf-8") as fh:
                    value = fh.read().strip()
        if self.url is None:
            host_port = value.removeprefix("master@")
            host, sep, port = host_port.rpartition(":")
            if not sep or not port.isdigit() or not host:
                die(f"Failed to create a master detector: Failed to parse '{value}'")
            self.static_master = (host, int(port))

    def build_info(self) -> None:
        f = self.flags
        os.makedirs(f["work_dir"], exist_ok=True)
        try:
            parsed = parse_resources(f["resources"] or "", f["default_role"])
            resources = default_resources(parsed, f["work_dir"], f["default_role"])
            attributes = parse_attributes(f["attributes"])
        except ResourceError as exc:
            die(f"Failed to determine agent resources: {exc}")
        self.info = {
            "hostname": self.hostname,
            "port": self.port_advertised,
            "resources": resources,
            "attributes": attributes,
        }
        if f["domain"] is not None:
            self.info["domain"] = f["domain"]

    def recover(self) -> None:
        # src/slave/slave.cpp Slave::recover + src/slave/paths.cpp: meta/slaves/latest is a
        # symlink to meta/slaves/<id>; slave.info holds the checkpointed SlaveInfo (protobuf in
        # Mesos, JSON in the double).
        latest = os.path.join(self.meta_dir, "slaves", "latest")
        if not os.path.lexists(latest):
            return
        info_path = os.path.join(latest, "slave.info")
        try:
            with open(info_path, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError) as exc:
            if self.flags["strict"]:
                die(f"Agent recovery failed: Failed to read agent info from '{info_path}': {exc}")
            return
        new = dict(self.info, id=old.get("id"))
        if not self.compatible(old, new):
            # src/slave/compatibility.cpp equal() and the EXIT in src/slave/slave.cpp
            # Slave::__recover ("Failed to perform recovery: ...").
            if self.flags["reconfiguration_policy"] == "additive":
                reason = "Configuration change not permitted under `additive` policy"
            else:
                reason = "\n".join(
                    [
                        "Incompatible agent info detected. ",
                        "\n------------------------------------------------------------",
                        "Old agent info:\n" + compact_json(old),
                        "\n------------------------------------------------------------",
                        "New agent info:\n" + compact_json(new),
                        "\n------------------------------------------------------------",
                    ]
                )
            die(
                f"Failed to perform recovery: {reason}\n"
                "To restart this agent with a new agent id instead, do as follows:\n"
                f"rm -f {latest}\n"
                "This ensures that the agent does not recover old live executors.\n"
            )
        self.agent_id = old.get("id", {}).get("value")
        log(f"Recovered agent {self.agent_id} from {info_path}")

    def recover_tasks(self) -> None:
        # Slave::recover -> containerizer->recover(state): checkpointed executors are re-attached
        # (DockerContainerizerProcess::_recover), unknown `mesos-<uuid>` containers are orphans
        # (__recover, --docker_kill_orphans). --recover=cleanup shuts the recovered executors
        # down and terminates the agent once they are gone (Slave::__recover, TERMINATING).
        self.tasks.recover()
        if self.flags["recover"] == "cleanup" and self.agent_id is not None:
            for framework in list(self.tasks.frameworks.values()):
                for executor in list(framework.executors.values()):
                    if executor.runner is not None:
                        executor.runner.done.wait(600)
            log("Agent recovery with --recover=cleanup: recovered executors shut down; terminating")
            os._exit(0)

    def compatible(self, old: dict, new: dict) -> bool:
        # src/slave/compatibility.cpp: 'equal' needs identical hostname/port/resources/
        # attributes/domain; 'additive' allows additions only.
        def norm(items: list[dict]) -> dict:
            return {(i["name"], i.get("role", "*")): i for i in items}

        if old.get("hostname") != new.get("hostname") or old.get("port") != new.get("port"):
            return False
        if self.flags["reconfiguration_policy"] == "additive":
            old_res, new_res = norm(old.get("resources", [])), norm(new.get("resources", []))
            for key, res in old_res.items():
                now = new_res.get(key)
                if now is None or now["type"] != res["type"]:
                    return False
                if res["type"] == "SCALAR" and now["scalar"]["value"] < res["scalar"]["value"]:
                    return False
            old_attr, new_attr = norm(old.get("attributes", [])), norm(new.get("attributes", []))
            return all(new_attr.get(k) == v for k, v in old_attr.items()) and (
                old.get("domain") in (None, new.get("domain"))
            )
        return (
            norm(old.get("resources", [])) == norm(new.get("resources", []))
            and norm(old.get("attributes", [])) == norm(new.get("attributes", []))
            and old.get("domain") == new.get("domain")
        )

    def checkpoint(self) -> None:
        assert self.agent_id is not None
        slaves = os.path.join(self.meta_dir, "slaves")
        directory = os.path.join(slaves, self.agent_id)
        os.makedirs(directory, exist_ok=True)
        write_atomically(
            os.path.join(directory, "slave.info"), compact_json(dict(self.info, id={"value": self.agent_id}))
        )
        latest = os.path.join(slaves, "latest")
        tmp = latest + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(directory, tmp)
        os.replace(tmp, latest)

    def run(self) -> None:
        self.validate()
        log(DOUBLE_BANNER.format(version=MESOS_VERSION).replace("\n", " "))
        log(f"Agent started on {self.ip}:{self.port} (pid {self.pid})")
        serve(self.bind_ip, self.port, self.route)
        signal.signal(signal.SIGTERM, self._terminate)
        if self.url is not None:
            self._start_detector()
        else:
            assert self.static_master is not None
            host, port = self.static_master
            self.master = {"hostname": host, "address": {"hostname": host, "ip": host, "port": port}, "port": port}
        self._registration_loop()

    def _terminate(self, *_: Any) -> None:
        # The double tells its master right away that this agent went away (a real master sees
        # the agent's libprocess socket close and deactivates the agent).
        master = self.master
        if master is not None and self.agent_id is not None:
            try:
                http_json(
                    "POST", self._master_url(master) + DOUBLE_AGENT_PATH + "/disconnect", {"id": self.agent_id}, 1.0
                )
            except OSError:
                pass
        os._exit(0)

    def _start_detector(self) -> None:
        assert self.url is not None
        self.zk = make_zk_client(self.url, self.flags["zk_session_timeout"].secs)
        while True:
            try:
                self.zk.start(timeout=5)
                break
            except Exception as exc:
                log(f"Failed to connect to ZooKeeper: {exc}; retrying", "W")
                time.sleep(0.5)
        path = self.url.path

        def detected(info: dict | None) -> None:
            with self.lock:
                if (info or {}).get("id") != (self.master or {}).get("id"):
                    log(f"New master detected at {info['pid']}" if info else "Lost leading master")
                self.master = info

        def changed(children: list[str] | None) -> None:
            detect_leader(self.zk, path, children or [], detected)

        # The path may not exist yet: watch it from its parent's creation on.
        while True:
            try:
                if self.zk.exists(path):
                    break
            except Exception:  # noqa: S110
                pass
            time.sleep(0.2)
        self.zk.ChildrenWatch(path, changed)

    @staticmethod
    def _master_url(master: dict) -> str:
        address = master.get("address") or {}
        host = address.get("ip") or address.get("hostname") or master.get("hostname")
        return f"http://{host}:{address.get('port') or master.get('port')}"

    def _registration_loop(self) -> None:
        # Registration, re-registration on every new leader, then pings (the double's channel;
        # backoff simplified to a fixed interval).
        while True:
            master = self.master
            try:
                if master is None:
                    self.registered_with = None
                elif self.registered_with != master.get("id", "static") or self.agent_id is None:
                    self._register(master)
                else:
                    status, body = http_json(
                        "POST", self._master_url(master) + DOUBLE_AGENT_PATH + "/ping", {"id": self.agent_id}, 2.0
                    )
                    self._check_shutdown(master, status, body)
                    if status != 200:
                        self.registered_with = None
            except OSError as exc:
                log(f"Failed to reach master: {exc}", "W")
                self.registered_with = None
            if self.registered_with is None:
                self.tasks.updates.pause()
            time.sleep(0.25 if self.registered_with is None else 0.5)

    def _check_shutdown(self, master: dict, status: int, body: Any) -> None:
        # src/slave/slave.cpp Slave::shutdown: a ShutdownMessage from the master (machine DOWN)
        # sets state TERMINATING and, with no frameworks, terminates the agent (exit 0).
        # Slave::finalize then KEEPS <work_dir>/meta/slaves/latest. Older releases (0.x, early
        # 1.x) removed it there ("if (state == TERMINATING) ... os::rm(getLatestSlavePath)");
        # slave.cpp from 529ec27 (a 1.6-or-later tree) onwards, so the 1.11 imitated here, no
        # longer does, and src/tests/slave_recovery_tests.cpp SlaveRecoveryTest.ShutdownSlave
        # (41c5a57) expects a shut-down agent to "reregister as the same agent" (same agent id).
        # Plain SIGTERM keeps it too. The master admits that re-registration once the machine is
        # up again (Master::_reregisterSlave: MarkSlaveReachable, "we admit the slave anyway").
        if status == 403 and isinstance(body, dict) and "shutdown" in body:
            log(f"Agent asked to shut down by {master.get('pid')} because '{body['shutdown']}'")
            os._exit(0)

    def _register(self, master: dict) -> None:
        info = dict(self.info)
        if self.agent_id:
            info["id"] = {"value": self.agent_id}
        status, body = http_json(
            "POST",
            self._master_url(master) + DOUBLE_AGENT_PATH + "/register",
            {
                "info": info,
                "pid": self.pid,
                "version": MESOS_VERSION,
                "capabilities": AGENT_CAPABILITIES,
                "incarnation": self.incarnation,
                **self.tasks.registration_payload(),
            },
        )
        self._check_shutdown(master, status, body)
        if status != 200 or not isinstance(body, dict):
            return
        with self.lock:
            first = self.agent_id is None
            self.agent_id = body["id"]
            self.registered_with = master.get("id", "static")
            self.master_id = body.get("master_id")
            self.counters["registered"] = 1.0
        self.checkpoint()
        self.tasks.updates.resume()
        verb = "Registered" if first else "Re-registered"
        log(f"{verb} with master {master.get('pid')}; given agent ID {self.agent_id}")

    def send_status_update(self, update: dict) -> None:
        """Slave::forward over the double's channel (a StatusUpdateMessage to the master)."""
        master = self.master
        if master is None or self.registered_with is None or self.agent_id is None:
            log(f"Dropping status update {update['status']['state']} because the agent is not registered", "W")
            return
        status, body = http_json(
            "POST",
            self._master_url(master) + DOUBLE_AGENT_PATH + "/status_update",
            {"id": self.agent_id, "update": update},
        )
        if status != 200:
            log(f"Master answered {status} to a status update: {body}", "W")

    def master_message(self, req: Request, action: str) -> Response:
        # RunTaskMessage, KillTaskMessage, ShutdownFrameworkMessage,
        # StatusUpdateAcknowledgementMessage, ReconcileTasksMessage (channel.py).
        if req.method != "POST":
            return Response(405)
        try:
            msg = json.loads(req.body or b"{}")
        except ValueError as exc:
            return Response.json({"error": f"bad JSON: {exc}"}, 400)
        if self.agent_id is None or self.registered_with is None:
            return Response.json({"error": "agent is not registered"}, 503)
        sender = msg.get("master_id")
        if sender is not None and self.master_id is not None and sender != self.master_id:
            # e.g. Slave::runTask: "Ignoring run task message from ... because it is not the
            # expected master".
            log(f"Ignoring {action} message from master {sender} because it is not the expected master", "W")
            return Response.json({"error": f"not the expected master (registered with {self.master_id})"}, 403)
        handlers = {
            "run_task": self.tasks.run_task,
            "kill_task": self.tasks.kill_task,
            "shutdown_framework": self.tasks.shutdown_framework,
            "acknowledge": self.tasks.acknowledge,
            "reconcile_tasks": self.tasks.reconcile,
        }
        handler = handlers.get(action)
        if handler is None:
            return Response.json({"error": f"unknown action {action}"}, 404)
        try:
            status, body = handler(msg)
        except (KeyError, TypeError, ValueError) as exc:
            return Response.json({"error": f"malformed {action}: {exc!r}"}, 400)
        return Response.json(body, status)

    # ---- HTTP -----------------------------------------------------------------------------------
    def state(self) -> dict:
        tasks_state = self.tasks.state()
        used = self.tasks.metrics()["used"]
        with self.lock:
            master = self.master if self.registered_with else None
            allocated = resources_v0(
                [{"name": k, "type": "SCALAR", "scalar": {"value": v}} for k, v in sorted(used.items())]
            )
            state: dict[str, Any] = {
                **version_json(),
                "start_time": self.start_time,
                "id": self.agent_id or "",
                "pid": self.pid,
                "hostname": self.hostname,
                "capabilities": list(AGENT_CAPABILITIES),
                "resources": resources_v0(self.info["resources"]),
                "reserved_resources": {},
                "unreserved_resources": resources_v0(self.info["resources"]),
                "reserved_resources_full": {},
                "unreserved_resources_full": self.info["resources"],
                "reserved_resources_allocated": {},
                "unreserved_resources_allocated": allocated,
                "attributes": attributes_v0(self.info["attributes"]),
                "flags": self.flags.as_strings(),
                "frameworks": tasks_state["frameworks"],
                "completed_frameworks": tasks_state["completed_frameworks"],
            }
            if master is not None:
                state["master_hostname"] = master.get("hostname")
            if self.flags["log_dir"]:
                state["log_dir"] = self.flags["log_dir"]
            return state

    def metrics(self) -> dict:
        res = self.info["resources"]
        side = self.tasks.metrics()
        m = {
            "slave/registered": 1.0 if self.registered_with else 0.0,
            "slave/uptime_secs": time.time() - self.start_time,
            "slave/recovery_errors": 0.0,
            "slave/tasks_lost": 0.0,
            "system/cpus_total": float(os.cpu_count() or 1),
            **side["metrics"],
        }
        for kind in ("cpus", "mem", "disk", "gpus"):
            total = scalar_total(res, kind)
            used = side["used"].get(kind, 0.0)
            m[f"slave/{kind}_total"] = total
            m[f"slave/{kind}_used"] = used
            m[f"slave/{kind}_percent"] = used / total if total else 0.0
        m["system/load_1min"], m["system/load_5min"], m["system/load_15min"] = os.getloadavg()
        return dict(sorted(m.items()))

    def route(self, req: Request) -> Response:
        path = req.path
        if path.startswith(MASTER_TO_AGENT + "/"):
            return self.master_message(req, path[len(MASTER_TO_AGENT) + 1 :])
        if path == "/metrics/snapshot":
            return Response.json(self.metrics())
        if path == "/version":
            return Response.json(version_json())
        for prefix in ("/slave(1)", ""):
            if prefix and not path.startswith(prefix + "/"):
                continue
            sub = path[len(prefix) :]
            if sub == "/health":
                return Response(200)
            if sub in ("/state", "/state.json"):
                return Response.json(self.state())
            if sub in ("/flags", "/flags.json"):
                return Response.json({"flags": self.flags.as_strings()})
            if sub == "/api/v1":
                return self.api(req)
        return Response(404)

    def api(self, req: Request) -> Response:
        error, call = v1_check_request(req, "agent")
        if error is not None or call is None:
            return error or Response(400)
        kind = call["type"]
        if kind == "GET_HEALTH":
            result: dict = {"healthy": True}
        elif kind == "GET_FLAGS":
            result = v1_flags(self.flags)
        elif kind == "GET_VERSION":
            result = v1_version()
        elif kind == "GET_METRICS":
            result = {"metrics": [{"name": k, "value": v} for k, v in self.metrics().items()]}
        elif kind == "GET_AGENT":
            result = {"agent_info": dict(self.info, id={"value": self.agent_id or ""})}
        else:
            return Response.text(501, f"Call type {kind} is not implemented by the Mesos protocol double")
        return Response.json({"type": kind, kind.lower(): drop_empty(result)})
