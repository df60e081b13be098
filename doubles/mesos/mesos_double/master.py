# ruff: noqa: PLR0911, PLR0912, PLR0915
"""The master personality of the Mesos PROTOCOL DOUBLE (not Apache Mesos).

Follows src/master/master.cpp (election, agent (re-)registration, pings, removal),
src/master/http.cpp (endpoints, redirects) and src/master/main.cpp. Its other parts are mixed
in: maintenance.py (maintenance), scheduler.py (the v1 scheduler API, framework lifecycle),
allocator.py (offers), master_tasks.py (ACCEPT, tasks, status updates), operator_api.py
(the v1 operator API).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.parse
import uuid
from typing import Any

from .allocator import AllocatorMixin, Bag
from .common import (
    DOUBLE_AGENT_PATH,
    DOUBLE_BANNER,
    MASTER_CAPABILITIES,
    MASTER_INFO_LABEL,
    MESOS_VERSION,
    advertised_port,
    compact_json,
    die,
    log,
    pack_ip,
    resolve_hostname,
    resolve_ip,
)
from .flags import FlagError, Flags, numify_int, parse_duration
from .frameworks import TERMINAL_TASK_STATES, Framework, state_summary, task_v0
from .maintenance import MaintenanceMixin, machine_key
from .master_tasks import TaskMixin
from .operator_api import OperatorApiMixin
from .resources import attributes_v0, resources_v0
from .scheduler import SchedulerMixin
from .web import (
    Request,
    Response,
    drop_empty,
    method_not_allowed,
    serve,
    version_json,
)
from .zk import ZkGroup, ZkUrl, detect_leader, zk_url_for_contender

# --------------------------------------------------------------------------------------------
# Master personality
# --------------------------------------------------------------------------------------------

# Endpoints that a non-leading master answers with 307 to the leader (503 without a leader):
# every handler of src/master/http.cpp that starts with `if (!master->elected()) return
# redirect(request);` (development head). /flags, /health, /redirect itself and the libprocess
# endpoints (/metrics/snapshot, /version) are answered by every master.
REDIRECTING = {
    "/state",
    "/state.json",
    "/slaves",
    "/slaves.json",
    "/frameworks",
    "/frameworks.json",
    "/tasks",
    "/tasks.json",
    "/roles",
    "/roles.json",
    "/api/v1",
    "/api/v1/scheduler",
    "/state-summary",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
    "/create-volumes",
    "/destroy-volumes",
    "/reserve",
    "/unreserve",
    "/quota",
    "/teardown",
    "/weights",
}


class Master(TaskMixin, AllocatorMixin, SchedulerMixin, OperatorApiMixin, MaintenanceMixin):
    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.start_time = time.time()
        self.id = str(uuid.uuid4())
        self.bind_ip, self.ip = resolve_ip(flags)
        self.port = int(flags["port"])
        self.port_advertised = advertised_port(flags, self.port)
        self.hostname = resolve_hostname(flags, self.ip)
        self.pid = f"master@{self.ip}:{self.port_advertised}"
        self.info = {
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port_advertised},
            "capabilities": [{"type": c} for c in MASTER_CAPABILITIES],
            "hostname": self.hostname,
            "id": self.id,
            "ip": pack_ip(self.ip),
            "pid": self.pid,
            "port": self.port_advertised,
            "version": MESOS_VERSION,
        }
        if flags["domain"] is not None:
            self.info["domain"] = flags["domain"]
        self.lock = threading.RLock()
        self.leader: dict | None = None
        self.elected_time: float | None = None
        self.recovered = False
        self.membership: str | None = None
        self.agents: dict[str, dict] = {}
        self.unreachable: dict[str, float] = {}
        self.next_agent = 0
        # The master's agent counters of src/master/metrics.cpp, shown as master/<name>.
        self.counters = dict.fromkeys(
            (
                "slave_registrations",
                "slave_reregistrations",
                "slave_removals",
                "slave_removals/reason_registered",
                "slave_removals/reason_unhealthy",
                "slave_removals/reason_unregistered",
                "slave_unreachable_scheduled",
                "slave_unreachable_completed",
                "slave_unreachable_canceled",
            ),
            0,
        )
        # machine_key(MachineID) -> {"id" (the MachineID it was first known by), "mode"
        # UP/DRAINING/DOWN, "unavailability"}
        self.machines: dict[tuple[str, str], dict] = {}
        self.shutdown: set[str] = set()  # agents removed by "Machine DOWN"
        self.schedule: dict = {}
        self.zk: ZkGroup | None = None
        self._lost_lock = threading.Lock()
        self._contend_lock = threading.Lock()
        self.url: ZkUrl | None = None
        self.log_replicas = 0
        # The scheduler side (scheduler.py, allocator.py, master_tasks.py).
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: list[Framework] = []
        self.next_framework = 0
        self.offers: dict[str, dict] = {}
        self.offer_times: dict[str, float] = {}
        self.next_offer = 0
        self.task_counters = dict.fromkeys(
            ("finished", "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator"), 0
        )
        self._allocate_now = threading.Event()
        self.killed_tasks: dict[str, dict[tuple[str, str], dict]] = {}  # agent id -> kills to resend

    # ---- start-up, as src/master/main.cpp orders its checks ---------------------------------
    def validate(self) -> None:
        f = self.flags
        if f["ip_discovery_command"] and f["ip"]:
            die("Only one of `--ip` or `--ip_discovery_command` should be specified")
        if f["zk"] is None:
            if bool(f["master_contender"]) != bool(f["master_detector"]):
                die("Both --master_contender and --master_detector should be specified or omitted.")
        elif f["master_contender"] or f["master_detector"]:
            die("Only one of --zk or the --master_contender/--master_detector pair should be specified.")
        if f["modules"] is not None and f["modules_dir"]:
            die("Only one of --modules or --modules_dir should be specified")
        if f["master_contender"] or f["master_detector"] or f["modules"] is not None or f["modules_dir"]:
            die("Error loading modules: modules are not supported by the Mesos protocol double")
        if f["registry"] == "in_memory":
            pass
        elif f["registry"] in ("replicated_log", "log_storage"):
            if f["work_dir"] is None:
                die("--work_dir needed for replicated log based registry")
            try:
                os.makedirs(f["work_dir"], exist_ok=True)
            except OSError as exc:
                die(f"Failed to create work directory '{f['work_dir']}': {exc.strerror}")
            if f["zk"] is not None:
                if f["quorum"] is None:
                    die("Need to specify --quorum for replicated log based registry when using ZooKeeper")
                try:
                    ZkUrl.parse(f["zk"])
                except ValueError as exc:
                    die(f"Error parsing ZooKeeper URL: {exc}")
            # The double keeps a marker where the replicated log would live.
            os.makedirs(os.path.join(f["work_dir"], "replicated_log"), exist_ok=True)
        else:
            die(f"'{f['registry']}' is not a supported option for registry persistence")
        if f["zk"] is not None:
            try:
                self.url = zk_url_for_contender(f["zk"])
            except ValueError as exc:
                die(f"Failed to create a master contender: {exc}")
        if f["agent_removal_rate_limit"]:
            tokens = [t for t in f["agent_removal_rate_limit"].split("/") if t]
            fmt = (
                f"Invalid agent_removal_rate_limit: {f['agent_removal_rate_limit']}. "
                "Format is <Number of agents>/<Duration>"
            )
            if len(tokens) != 2:
                die(fmt)
            try:
                numify_int(tokens[0])
                parse_duration(tokens[1])
            except FlagError as exc:
                die(f"{fmt}: {exc}")
        if f["agent_reregister_timeout"].nanos < 600e9:
            # src/master/master.cpp Master::initialize
            die(
                f"Invalid value '{f['agent_reregister_timeout']}' for --agent_reregister_timeout: "
                "Expected --agent_reregister_timeout to be at least 10mins"
            )
        if f["credentials"] is not None:
            path = f["credentials"][7:] if f["credentials"].startswith("file://") else f["credentials"]
            try:
                with open(path, encoding="utf-8") as fh:
                    creds = json.load(fh)
                if not isinstance(creds, dict) or not isinstance(creds.get("credentials"), list):
                    raise ValueError("Expecting 'credentials' to be a JSON array")
            except (OSError, ValueError) as exc:
                die(f"Failed to read credentials file '{path}': {exc}")
        elif f["authenticate_frameworks"] or f["authenticate_agents"]:
            # Master::initialize: authentication needs credentials.
            die("Authentication requires a credentials file (see --credentials flag)")

    def run(self) -> None:
        self.validate()
        log(DOUBLE_BANNER.format(version=MESOS_VERSION).replace("\n", " "))
        log(f"Master {self.id} ({self.hostname}) started on {self.ip}:{self.port}")
        log("Flags at startup: " + " ".join(f'--{k}="{v}"' for k, v in self.flags.as_strings().items()))
        if self.url is None:
            # Standalone contender/detector (no --zk): this master leads at once; its replicated
            # log, if any, is a quorum of one.
            with self.lock:
                self.leader = self.info
                self.elected_time = time.time()
                self.recovered = True
            log("Elected as the leading master (standalone)!")
        serve(self.bind_ip, self.port, self.route)
        threading.Thread(target=self._ping_checker, daemon=True).start()
        threading.Thread(target=self.allocation_loop, daemon=True).start()
        threading.Thread(target=self._framework_timers, daemon=True).start()
        if self.url is not None:
            self._start_zk()
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        while True:
            time.sleep(3600)

    # ---- ZooKeeper contender / detector -------------------------------------------------------
    def _start_zk(self) -> None:
        assert self.url is not None
        timeout = self.flags["zk_session_timeout"].secs
        self.zk = ZkGroup(self.url, timeout, self._membership_lost)
        self.zk.start()
        self._contend()
        if self.flags["registry"] != "in_memory":
            self._join_log_replicas()
        else:
            self.recovered = True
        self.zk.client.ChildrenWatch(self.url.path, self._children_changed)

    def _join_log_replicas(self) -> None:
        # src/master/main.cpp: the registrar's replicated log finds its peers in the group
        # '<zk path>/log_replicas' (unlabelled members, data = the replica's UPID).
        assert self.zk is not None and self.url is not None
        path = self.url.path.rstrip("/") + "/log_replicas"
        self.zk.join(path, None, f"log-replica(1)@{self.ip}:{self.port_advertised}".encode())

        def replicas(children: list[str]) -> None:
            self.log_replicas = len(children)
            if not self.recovered and self.log_replicas >= int(self.flags["quorum"]):
                self.recovered = True
                log(f"Replicated log recovered: {self.log_replicas} replicas, quorum {self.flags['quorum']}")

        self.zk.client.ChildrenWatch(path, replicas)

    def _contend(self) -> None:
        # One candidacy at a time (zookeeper/contender.cpp): a second caller waits for the first
        # and then finds the membership already there.
        assert self.zk is not None and self.url is not None
        with self._contend_lock:
            while self.membership is None:
                try:
                    node = self.zk.join(self.url.path, MASTER_INFO_LABEL, compact_json(self.info).encode())
                except Exception as exc:
                    log(f"Failed to contend: {exc!r}; retrying", "W")
                    time.sleep(0.5)
                    continue
                with self.lock:
                    self.membership = node.rsplit("/", 1)[1]
                log(f"Contending for leadership as {node}")

    def _membership_lost(self) -> None:
        # src/master/master.cpp Master::lostCandidacy
        if not self._lost_lock.acquire(blocking=False):
            return  # already contending again
        try:
            with self.lock:
                leading = self.leader is not None and self.leader.get("id") == self.id
                self.membership = None
            if leading:
                die("Lost candidacy as a leader... committing suicide!")
            log("Lost candidacy as a follower... Contending again")
            assert self.zk is not None
            self.zk.ensure_started()
            self._contend()
            if self.flags["registry"] != "in_memory":
                try:
                    self._join_log_replicas()
                except Exception as exc:
                    log(f"Failed to rejoin log replicas: {exc}", "W")
        finally:
            self._lost_lock.release()

    def _children_changed(self, children: list[str]) -> None:
        assert self.zk is not None and self.url is not None
        member = self.membership
        if member is not None and member not in children and self.zk.client.connected:
            # Our own member vanished while the session lives (deleted by someone)?
            try:
                gone = self.zk.client.exists(f"{self.url.path.rstrip('/')}/{member}") is None
            except Exception:
                gone = False
            if gone and member == self.membership:
                threading.Thread(target=self._membership_lost, daemon=True).start()
        detect_leader(self.zk.client, self.url.path, children, self._leader_detected)

    def _leader_detected(self, info: dict | None) -> None:
        with self.lock:
            was_leading = self.leader is not None and self.leader.get("id") == self.id
            self.leader = info
            leading = info is not None and info.get("id") == self.id
            if was_leading and not leading:
                # src/master/master.cpp Master::detected
                die("Lost leadership... committing suicide!")
            if leading and not was_leading:
                self.elected_time = time.time()
                log("Elected as the leading master!")
                threading.Thread(target=self._recover_registrar, daemon=True).start()
            elif info is None:
                log("No master detected")
            elif not leading:
                log(f"The newly elected leader is {info.get('pid')} with id {info.get('id')}")

    def _recover_registrar(self) -> None:
        # src/master/registrar.cpp: the elected master must fetch the registry from a quorum
        # of log replicas within --registry_fetch_timeout, else master.cpp exits.
        deadline = time.monotonic() + self.flags["registry_fetch_timeout"].secs
        while time.monotonic() < deadline:
            if self.recovered:
                return
            time.sleep(0.1)
        if not self.recovered:
            die(
                "Recovery failed: Failed to recover registrar: Failed to perform fetch within "
                f"{self.flags['registry_fetch_timeout']}"
            )

    # ---- agents (the double's own channel) ------------------------------------------------------
    def elected(self) -> bool:
        return self.leader is not None and self.leader.get("id") == self.id

    def _framework_timers(self) -> None:
        # Framework::heartbeat's HEARTBEAT events and Master::frameworkFailoverTimeout.
        while True:
            time.sleep(0.2)
            self.heartbeats()
            self.check_failover_timeouts()

    def _ping_checker(self) -> None:
        # Agents that stop pinging for agent_ping_timeout * max_agent_ping_timeouts are marked
        # unreachable and removed (master.cpp SlaveObserver), simplified to a timer.
        # SlaveObserver::markUnreachable counts slave_unreachable_scheduled, _markUnreachable
        # slave_unreachable_completed; Master::markUnreachable then drops the agent through
        # __removeSlave, which does NOT count master/slave_removals (only _removeSlave does).
        while True:
            time.sleep(0.2)
            limit = self.flags["agent_ping_timeout"].secs * int(self.flags["max_agent_ping_timeouts"])
            now = time.monotonic()
            with self.lock:
                for agent_id, agent in list(self.agents.items()):
                    if now - agent["last_ping"] > limit:
                        log(f"Agent {agent_id} failed health check; marking unreachable")
                        self.unreachable[agent_id] = time.time()
                        self.agent_tasks_lost(
                            agent_id, agent["info"]["hostname"], "health check timed out", self.unreachable[agent_id]
                        )
                        del self.agents[agent_id]
                        self.counters["slave_unreachable_scheduled"] += 1
                        self.counters["slave_unreachable_completed"] += 1

    def _remove_agent(self, agent_id: str, cause: str, reason: str | None = None) -> None:
        # Master::removeSlave / _removeSlave: the agent leaves `slaves` (no ShutdownMessage is
        # sent from here), master/slave_removals counts it, and so does the reason's counter
        # (master/slave_removals/reason_*) when the caller gives one.
        log(f"Removing agent {agent_id}: {cause}")
        self.agent_tasks_lost(agent_id, self.agents[agent_id]["info"]["hostname"], cause, None)
        del self.agents[agent_id]
        self.counters["slave_removals"] += 1
        if reason is not None:
            self.counters[f"slave_removals/{reason}"] += 1

    def agent_channel(self, req: Request) -> Response:
        action = req.path[len(DOUBLE_AGENT_PATH) + 1 :]
        if not self.elected():
            return Response.json({"error": "not the leading master"}, 409)
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return Response.text(400, "bad JSON")
        with self.lock:
            if action == "register":
                info = body["info"]
                agent_id = info.get("id", {}).get("value")
                pid = body["pid"]
                incarnation = body.get("incarnation")
                # master.cpp _registerSlave/_reregisterSlave: an agent's MachineID is its
                # hostname and the IP of its pid, matched with MachineID's operator== (hostname in
                # any case); a machine in DOWN mode gets a ShutdownMessage instead.
                machine = {"hostname": info["hostname"], "ip": pid.split("@", 1)[1].rsplit(":", 1)[0]}
                key = machine_key(machine)
                if self.machines.get(key, {}).get("mode") == "DOWN":
                    log(
                        f"Refusing {'re-' if agent_id else ''}registration of agent at {pid} because the machine "
                        f"'{machine['hostname']} ({machine['ip']})' that it is running on is `DOWN`",
                        "W",
                    )
                    return Response.json({"shutdown": "Machine is `DOWN`"}, 403)
                # Master::addSlave: `machines[slave->machineId]` keeps an existing entry (and its key).
                self.machines.setdefault(key, {"id": machine, "mode": "UP"})
                if not agent_id:
                    # Master::_registerSlave: "Check if this slave is already registered (because
                    # it retries)", by pid. A connected one gets its SlaveRegisteredMessage again;
                    # a disconnected one is removed (reason_registered) and the newcomer gets a
                    # NEW agent id. A new agent process at that address means the old one is gone:
                    # its libprocess link broke and Master::exited disconnected it, which the
                    # double learns from the changed per-process `incarnation`.
                    same = next(((i, a) for i, a in self.agents.items() if a["pid"] == pid), None)
                    if same is not None:
                        old_id, old = same
                        if old["connected"] and old.get("incarnation") != incarnation:
                            log(f"Agent {old_id} at {pid} disconnected (a new agent process is at its address)")
                            old["connected"] = old["active"] = False
                        if old["connected"]:
                            log(f"Agent {old_id} at {pid} already registered, resending acknowledgement")
                            return Response.json({"id": old_id, "master_id": self.id})
                        log(
                            f"Removing old disconnected agent {old_id} at {pid} ({old['info']['hostname']}) "
                            "because a registration attempt occurred"
                        )
                        self._remove_agent(old_id, "a new agent registered at the same address", "reason_registered")
                self.shutdown.discard(agent_id or "")
                if agent_id:
                    self.counters["slave_reregistrations"] += 1
                    reregistered = True
                else:
                    agent_id = f"{self.id}-S{self.next_agent}"
                    self.next_agent += 1
                    self.counters["slave_registrations"] += 1
                    reregistered = False
                info = dict(info, id={"value": agent_id})
                now = time.time()
                old = self.agents.get(agent_id, {})
                self.agents[agent_id] = {
                    "info": info,
                    "machine": key,
                    "pid": body["pid"],
                    "version": body.get("version", MESOS_VERSION),
                    "capabilities": body.get("capabilities", []),
                    "registered_time": old.get("registered_time", now),
                    "reregistered_time": now if reregistered else None,
                    "active": True,
                    "connected": True,
                    "last_ping": time.monotonic(),
                    "incarnation": incarnation,
                }
                self.unreachable.pop(agent_id, None)
                log(f"{'Re-registered' if reregistered else 'Registered'} agent {agent_id} at {body['pid']}")
                if "tasks" in body or "frameworks" in body:
                    self.agent_reregistered_tasks(agent_id, body.get("tasks") or [], body.get("frameworks") or [])
                self.trigger_allocation()
                return Response.json({"id": agent_id, "master_id": self.id})
            agent_id = body.get("id")
            agent = self.agents.get(agent_id or "")
            if agent_id in self.shutdown:
                # The ShutdownMessage of _startMaintenance, delivered once on the agent's next call.
                self.shutdown.discard(agent_id)
                return Response.json({"shutdown": "Operator initiated 'Machine DOWN'"}, 403)
            if agent is None:
                return Response.json({"error": "unknown agent"}, 404)
            if action == "ping":
                agent["last_ping"] = time.monotonic()
                if not agent["connected"]:
                    agent["connected"] = agent["active"] = True
                    self.trigger_allocation()
                return Response.json({"ok": True})
            if action == "disconnect":
                # Master::exited: a disconnected agent is deactivated (its offers rescinded),
                # kept until health checks fail.
                agent["connected"] = agent["active"] = False
                self.rescind_agent_offers(agent_id)
                log(f"Agent {agent_id} disconnected")
                return Response.json({"ok": True})
            if action == "status_update":
                self.agent_status_update(agent_id, body)
                return Response.json({})
        return Response.text(404, "")

    # ---- models ---------------------------------------------------------------------------------
    def agent_v0(self, agent_id: str, agent: dict) -> dict:
        info = agent["info"]
        resources = info["resources"]
        used_bag, offered_bag = Bag(), Bag()
        for framework in self.frameworks.values():
            for task in framework.tasks.values():
                if task["agent_id"]["value"] == agent_id and task["state"] not in TERMINAL_TASK_STATES:
                    used_bag = used_bag + Bag(task["resources"])
        for offer in self.offers.values():
            if offer["agent_id"]["value"] == agent_id:
                offered_bag = offered_bag + Bag(offer["resources"])
        used, offered = used_bag.to_list("*"), offered_bag.to_list("*")
        model = {
            "id": agent_id,
            "pid": agent["pid"],
            "hostname": info["hostname"],
            "port": info["port"],
            "registered_time": agent["registered_time"],
            "resources": resources_v0(resources),
            "used_resources": resources_v0(used),
            "offered_resources": resources_v0(offered),
            "reserved_resources": {},
            "unreserved_resources": resources_v0(resources),
            "attributes": attributes_v0(info.get("attributes", [])),
            "active": agent["active"],
            "deactivated": not agent["active"],
            "version": agent["version"],
            "capabilities": agent["capabilities"],
            "reserved_resources_full": {},
            "unreserved_resources_full": resources,
            "used_resources_full": used,
            "offered_resources_full": offered,
        }
        if agent["reregistered_time"] is not None:
            model["reregistered_time"] = agent["reregistered_time"]
        return model

    def agent_v1(self, agent_id: str, agent: dict) -> dict:
        info = agent["info"]
        return drop_empty(
            {
                "active": agent["active"],
                "agent_info": info,
                "pid": agent["pid"],
                "registered_time": {"nanoseconds": int(agent["registered_time"] * 1e9)},
                "reregistered_time": (
                    {"nanoseconds": int(agent["reregistered_time"] * 1e9)} if agent["reregistered_time"] else None
                ),
                "total_resources": info["resources"],
                "version": agent["version"],
                "capabilities": [{"type": c} for c in agent["capabilities"]],
                "deactivated": not agent["active"],
            }
        )

    def state(self) -> dict:
        with self.lock:
            agents = [self.agent_v0(i, a) for i, a in sorted(self.agents.items())]
            active = sum(1 for a in self.agents.values() if a["active"])
            state: dict[str, Any] = {
                **version_json(),
                "start_time": self.start_time,
                "id": self.id,
                "pid": self.pid,
                "hostname": self.hostname,
                "capabilities": list(MASTER_CAPABILITIES),
                "activated_slaves": active,
                "deactivated_slaves": len(self.agents) - active,
                "unreachable_slaves": len(self.unreachable),
                "flags": self.flags.as_strings(),
                "slaves": agents,
                "recovered_slaves": [],
                "frameworks": [f.v0(self.agents) for f in self.frameworks.values()],
                "completed_frameworks": [f.v0(self.agents) for f in self.completed_frameworks],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            }
            if self.elected_time is not None and self.elected():
                state["elected_time"] = self.elected_time
            if self.flags["cluster"]:
                state["cluster"] = self.flags["cluster"]
            if self.leader is not None:
                # http.cpp json(JSON::ObjectWriter*, const MasterInfo&): id, pid, port, hostname.
                state["leader"] = self.leader["pid"]
                state["leader_info"] = {
                    k: self.leader[k] for k in ("hostname", "id", "pid", "port") if k in self.leader
                }
            if self.flags["log_dir"]:
                state["log_dir"] = self.flags["log_dir"]
            if self.flags["external_log_file"]:
                state["external_log_file"] = self.flags["external_log_file"]
            return state

    def state_summary(self) -> dict:
        # ReadOnlyHandler::stateSummary: hostname, cluster, slaves (SlaveWriter + task counts +
        # framework_ids), frameworks (Summary<Framework> + task counts + slave_ids).
        with self.lock:
            frameworks, per_agent = state_summary(list(self.frameworks.values()), self.agents)
            slaves = []
            for agent_id, agent in sorted(self.agents.items()):
                model = {k: v for k, v in self.agent_v0(agent_id, agent).items() if not k.endswith("_full")}
                slaves.append({**model, **per_agent[agent_id]})
            summary: dict[str, Any] = {"hostname": self.hostname}
            if self.flags["cluster"]:
                summary["cluster"] = self.flags["cluster"]
            return {**summary, "slaves": slaves, "frameworks": frameworks}

    def metrics(self) -> dict:
        with self.lock:
            active = sum(1 for a in self.agents.values() if a["active"])
            connected = sum(1 for a in self.agents.values() if a["connected"])
            res = [r for a in self.agents.values() for r in a["info"]["resources"]]
            m: dict[str, float] = {
                "master/elected": 1.0 if self.elected() else 0.0,
                "master/uptime_secs": time.time() - self.start_time,
                "master/slaves_active": float(active),
                "master/slaves_inactive": float(len(self.agents) - active),
                "master/slaves_connected": float(connected),
                "master/slaves_disconnected": float(len(self.agents) - connected),
                "master/slaves_unreachable": float(len(self.unreachable)),
                **{f"master/{name}": float(count) for name, count in self.counters.items()},
                "master/frameworks_active": float(sum(1 for f in self.frameworks.values() if f.active)),
                "master/frameworks_inactive": float(sum(1 for f in self.frameworks.values() if not f.active)),
                "master/frameworks_connected": float(sum(1 for f in self.frameworks.values() if f.connected)),
                "master/frameworks_disconnected": float(sum(1 for f in self.frameworks.values() if not f.connected)),
                "master/outstanding_offers": float(len(self.offers)),
                "master/event_queue_messages": 0.0,
                "master/event_queue_dispatches": 0.0,
                "master/event_queue_http_requests": 0.0,
            }
            m.update(self.task_metrics())
            used = self.used_resources()
            for kind in ("cpus", "mem", "disk", "gpus"):
                total = sum(r["scalar"]["value"] for r in res if r["name"] == kind and r["type"] == "SCALAR")
                m[f"master/{kind}_total"] = total
                m[f"master/{kind}_used"] = used.scalar(kind)
                m[f"master/{kind}_percent"] = used.scalar(kind) / total if total else 0.0
                m[f"master/{kind}_revocable_total"] = 0.0
                m[f"master/{kind}_revocable_used"] = 0.0
                m[f"master/{kind}_revocable_percent"] = 0.0
            if self.flags["registry"] != "in_memory":
                m["registrar/log/recovered"] = 1.0 if self.recovered else 0.0
                m["registrar/log/ensemble_size"] = float(self.log_replicas if self.url else 1)
            m["registrar/queued_operations"] = 0.0
            m["registrar/registry_size_bytes"] = 0.0
            m["system/cpus_total"] = float(os.cpu_count() or 1)
            m["system/load_1min"], m["system/load_5min"], m["system/load_15min"] = os.getloadavg()
            return dict(sorted(m.items()))

    # ---- HTTP routing ----------------------------------------------------------------------------
    def redirect(self, req: Request, path: str) -> Response:
        # src/master/http.cpp Master::Http::redirect
        leader = self.leader
        if leader is None:
            return Response.text(503, "No leader elected")
        hostname = leader.get("hostname") or socket.inet_ntoa(int(leader["ip"]).to_bytes(4, "little"))
        base = f"//{hostname}:{leader['port']}"
        if path == "/redirect":
            return Response(307, b"", None, {"Location": base})
        if path.startswith("/redirect/"):
            return Response(404)
        return Response(307, b"", None, {"Location": base + req.url})

    def route(self, req: Request) -> Response:
        if req.path.startswith(DOUBLE_AGENT_PATH + "/"):
            return self.agent_channel(req)
        if req.path == "/metrics/snapshot":
            return Response.json(self.metrics())
        if req.path == "/version":
            return Response.json(version_json())
        if req.path in ("/health", "/master/health"):
            return Response(200)
        path = req.path[len("/master") :] if req.path.startswith("/master/") else req.path
        if path == "/redirect" or path.startswith("/redirect/"):
            return self.redirect(req, path)
        if path in REDIRECTING and not self.elected():
            return self.redirect(req, path)
        if path in ("/state", "/state.json"):
            return Response.json(self.state())
        if path in ("/flags", "/flags.json"):
            return Response.json({"flags": self.flags.as_strings()})
        if path in ("/slaves", "/slaves.json"):
            with self.lock:
                return Response.json(
                    {
                        "slaves": [self.agent_v0(i, a) for i, a in sorted(self.agents.items())],
                        "recovered_slaves": [],
                    }
                )
        if path in ("/frameworks", "/frameworks.json"):
            selected = urllib.parse.parse_qs(req.query).get("framework_id")

            def wanted(framework: Framework) -> bool:
                return selected is None or framework.id == selected[-1]

            with self.lock:
                return Response.json(
                    {
                        # ?framework_id= selects one (IDAcceptor in ReadOnlyHandler::frameworks).
                        "frameworks": [f.v0(self.agents) for f in self.frameworks.values() if wanted(f)],
                        "completed_frameworks": [f.v0(self.agents) for f in self.completed_frameworks if wanted(f)],
                        "unregistered_frameworks": [],
                    }
                )
        if path in ("/tasks", "/tasks.json"):
            return Response.json({"tasks": self.tasks_v0(req.query)})
        if path in ("/roles", "/roles.json"):
            return Response.json({"roles": []})
        if path == "/state-summary":
            return Response.json(self.state_summary())
        if path == "/maintenance/schedule":
            return self.http_schedule(req)
        if path == "/maintenance/status":
            if req.method != "GET":
                return method_not_allowed(["GET"], req.method)
            with self.lock:
                return Response.json(self.maintenance_status())
        if path in ("/machine/down", "/machine/up"):
            if req.method != "POST":
                return method_not_allowed(["POST"], req.method)
            try:
                ids = json.loads(req.body)
            except ValueError as exc:
                return Response.text(400, f"Failed to parse JSON: {exc}")
            with self.lock:
                error = self.machines_transition(ids, down=path == "/machine/down")
            return error or Response(200)
        if path == "/api/v1/scheduler":
            return self.scheduler_api(req)
        if path == "/teardown":
            return self.http_teardown(req)
        if path == "/api/v1":
            return self.api(req)
        return Response(404)

    def tasks_v0(self, query: str) -> list[dict]:
        # ReadOnlyHandler::tasks: the tasks (active, unreachable, completed) of every known and
        # completed framework, `framework_id`/`task_id` filters, TaskComparator's order by the
        # first status's timestamp (`order=asc`, else descending; tasks without statuses last
        # when descending), then `offset` and `limit` (TASK_LIMIT 100).
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}

        def number(name: str, default: int) -> int:
            value = args.get(name, "")
            return int(value) if value.lstrip("-").isdigit() and int(value) >= 0 else default

        with self.lock:
            tasks: list[dict] = []
            for framework in [*self.frameworks.values(), *self.completed_frameworks]:
                if "framework_id" in args and framework.id != args["framework_id"]:
                    continue
                tasks += [*framework.tasks.values(), *framework.unreachable_tasks.values(), *framework.completed_tasks]
            if "task_id" in args:
                tasks = [t for t in tasks if t["task_id"]["value"] == args["task_id"]]
            models = [task_v0(t) for t in tasks]
        ascending = args.get("order") == "asc"
        timed = sorted((m for m in models if m["statuses"]), key=lambda m: m["statuses"][0]["timestamp"])
        untimed = [m for m in models if not m["statuses"]]
        ordered = untimed + timed if ascending else timed[::-1] + untimed
        offset = number("offset", 0)
        return ordered[offset : offset + number("limit", 100)]
