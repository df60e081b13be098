# ruff: noqa: PLR0911, PLR0912, PLR0915 - one return per upstream error, in upstream's order
"""The v1 scheduler HTTP API of the Mesos PROTOCOL DOUBLE's master (not Apache Mesos).

Follows docs/scheduler-http-api.md, include/mesos/v1/scheduler/scheduler.proto and
src/master/http.cpp `Master::Http::scheduler` (request checks, status codes and texts, the
`Mesos-Stream-Id` header, 202 Accepted), src/master/validation.cpp
(`validation::scheduler::call::validate`, `framework::validate`, `validateUpdate`),
src/master/master.cpp (`subscribe`/`_subscribe`, `failoverFramework`, `exited`,
`frameworkFailoverTimeout`, `removeFramework`, `kill`, `acknowledge`, `reconcile`) and
docs/high-availability-framework-guide.md, docs/reconciliation.md. ACCEPT/DECLINE/REVIVE/
SUPPRESS are in allocator.py, task bookkeeping in master_tasks.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from .common import log
from .frameworks import (
    HEARTBEAT_INTERVAL,
    TERMINAL_TASK_STATES,
    Framework,
    framework_roles,
    has_capability,
    status_update,
)
from .protojson import parse_call, uuid_bytes
from .recordio import encode
from .web import Request, Response, Stream, method_not_allowed

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
ROLE_INVALID = set("\x00\t\n\v\f\r /\\")


def validate_role(role: str) -> str | None:
    # src/common/roles.cpp roles::validate
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = [c for c in role.split("/") if c]
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component in (".", ".."):
            return f"Role '{role}' cannot include '{component}' as a component"
        if component == "*":
            return f"Role '{role}' cannot include '*' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if any(c in ROLE_INVALID or ord(c) < 32 for c in component):
            return (
                f"Role component '{component}' is invalid because it contains backslash, whitespace or "
                "control characters"
            )
    return None


def validate_id(value: str) -> str | None:
    # src/common/validation.cpp validateID
    if not value:
        return "ID must not be empty"
    if len(value) > 255:
        return "ID must not be greater than 255 characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in value):
        return f"'{value}' contains invalid characters"
    return None


def stringify_set(items: set[str]) -> str:
    # stout stringify(std::set): "{ a, b }"
    return "{ " + ", ".join(sorted(items)) + " }"


def validate_call(call: dict) -> str | None:
    """validation::scheduler::call::validate (without authentication)."""
    kind = call.get("type")
    if kind is None:
        return "Expecting 'type' to be present"
    if kind == "SUBSCRIBE":
        if "subscribe" not in call:
            return "Expecting 'subscribe' to be present"
        # FrameworkID's operator== compares the values (an unset id is "").
        info_id = (call["subscribe"]["framework_info"].get("id") or {}).get("value", "")
        if info_id != (call.get("framework_id") or {}).get("value", ""):
            return "'framework_id' differs from 'subscribe.framework_info.id'"
        return None
    if "framework_id" not in call:
        return "Expecting 'framework_id' to be present"
    needs = {
        "ACCEPT": "accept",
        "DECLINE": "decline",
        "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
        "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
        "KILL": "kill",
        "SHUTDOWN": "shutdown",
        "ACKNOWLEDGE": "acknowledge",
        "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
        "RECONCILE": "reconcile",
        "RECONCILE_OPERATIONS": "reconcile_operations",
        "MESSAGE": "message",
        "REQUEST": "request",
        "UPDATE_FRAMEWORK": "update_framework",
    }
    field = needs.get(kind)
    if field is not None and field not in call:
        return f"Expecting '{field}' to be present"
    if kind == "UPDATE_FRAMEWORK":
        info_id = (call["update_framework"]["framework_info"].get("id") or {}).get("value", "")
        if info_id != call["framework_id"]["value"]:
            return "'framework_id' differs from 'update_framework.framework_info.id'"
    if kind == "ACKNOWLEDGE":
        raw = uuid_bytes(call["acknowledge"]["uuid"])
        # stout UUID::fromBytes: 16 bytes of a known UUID version.
        if len(raw) != 16 or not 1 <= raw[6] >> 4 <= 5:
            return "Not a valid UUID"
    return None


class SchedulerMixin:
    """Master::Http::scheduler and the framework lifecycle (mixed into Master)."""

    # Provided by Master and the other mixins.
    id: str
    info: dict
    flags: Any
    lock: Any
    recovered: bool
    elected_time: float | None
    agents: dict[str, dict]
    unreachable: dict[str, float]
    frameworks: dict[str, Framework]
    completed_frameworks: list[Framework]
    next_framework: int
    killed_tasks: dict[str, dict[tuple[str, str], dict]]

    if TYPE_CHECKING:  # provided by the other parts of Master

        def remove_offer(self, offer_id: str, rescind: bool = False, filter_seconds: float | None = None) -> None:
            """Another part of Master."""

        def trigger_allocation(self) -> None:
            """Another part of Master."""

        def to_agent(self, agent_id: str, action: str, body: dict) -> None:
            """Another part of Master."""

        def accept(self, framework: Framework, accept: dict) -> None:
            """Another part of Master."""

        def decline(self, framework: Framework, decline: dict) -> None:
            """Another part of Master."""

        def revive(self, framework: Framework, revive: dict) -> None:
            """Another part of Master."""

        def suppress(self, framework: Framework, suppress: dict) -> None:
            """Another part of Master."""

        def forward(self, framework: Framework, status: dict) -> None:
            """Another part of Master."""

        def kill_task_of_removed_framework(self, framework: Framework, task: dict) -> None:
            """Another part of Master."""

    # ---- the HTTP endpoint ----------------------------------------------------------------------
    def scheduler_api(self, req: Request) -> Response:
        # Master::Http::scheduler, in its order (the redirect of a non-leader happens in route()).
        if not self.recovered:
            return Response.text(503, "Master has not finished recovery")
        if req.method != "POST":
            return method_not_allowed(["POST"], req.method)
        ctype = req.headers.get("Content-Type")
        if ctype is None:
            return Response.text(400, "Expecting 'Content-Type' to be present")
        if ctype == APPLICATION_PROTOBUF:
            # Simplification (doubles/README.md): the double cannot decode protobuf.
            return Response.text(415, "The Mesos protocol double only speaks application/json")
        if ctype != APPLICATION_JSON:
            return Response.text(415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}")
        try:
            call = json.loads(req.body.decode("utf-8"))
        except ValueError as exc:
            return Response.text(400, f"Failed to parse body into JSON: {exc}")
        error = parse_call(call)
        if error is not None:
            return Response.text(400, f"Failed to convert JSON into Call protobuf: {error}")
        error = validate_call(call)
        if error is not None:
            return Response.text(400, f"Failed to validate scheduler::Call: {error}")
        kind = call["type"]
        if kind == "SUBSCRIBE":
            accept = req.headers.get("Accept")
            if accept and not any(
                a.split(";")[0].strip() in (APPLICATION_JSON, "*/*", "application/*") for a in accept.split(",")
            ):
                return Response.text(
                    406, f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"
                )
            if req.headers.get("Mesos-Stream-Id") is not None:
                return Response.text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
            stream = Stream()
            stream_id = str(uuid.uuid4())
            with self.lock:
                self.subscribe(stream, stream_id, call["subscribe"])
            return Response(200, content_type=APPLICATION_JSON, headers={"Mesos-Stream-Id": stream_id}, stream=stream)
        with self.lock:
            framework = self.frameworks.get(call["framework_id"]["value"])
            if framework is None:
                return Response.text(400, "Framework cannot be found")
            if not framework.connected:
                return Response.text(403, "Framework is not subscribed")
            stream_id = req.headers.get("Mesos-Stream-Id")
            if stream_id is None:
                return Response.text(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
            if stream_id != framework.stream_id:
                return Response.text(
                    400,
                    f"The stream ID '{stream_id}' included in this request didn't match the stream ID currently "
                    f"associated with framework ID {framework.id}",
                )
            handlers = {
                "TEARDOWN": lambda: self.remove_framework(framework),
                "ACCEPT": lambda: self.accept(framework, call["accept"]),
                "DECLINE": lambda: self.decline(framework, call["decline"]),
                "REVIVE": lambda: self.revive(framework, call.get("revive", {})),
                "SUPPRESS": lambda: self.suppress(framework, call.get("suppress", {})),
                "KILL": lambda: self.kill(framework, call["kill"]),
                "ACKNOWLEDGE": lambda: self.acknowledge(framework, call["acknowledge"]),
                "RECONCILE": lambda: self.reconcile(framework, call["reconcile"].get("tasks", [])),
                # Accepted and dropped: the double has no custom executors, inverse offers or
                # requests.
                "SHUTDOWN": lambda: None,
                "MESSAGE": lambda: None,
                "REQUEST": lambda: None,
                "ACCEPT_INVERSE_OFFERS": lambda: None,
                "DECLINE_INVERSE_OFFERS": lambda: None,
            }
            if kind == "UPDATE_FRAMEWORK":
                return self.update_framework(framework, call["update_framework"])
            handler = handlers.get(kind)
            if handler is None:
                return Response(501)
            handler()
        return Response(202)

    # ---- SUBSCRIBE --------------------------------------------------------------------------------
    def validate_framework(self, info: dict) -> str | None:
        # Master::validateFramework: validation::framework::validate, --roles, root, completed.
        multi = has_capability(info, "MULTI_ROLE")
        if multi and "role" in info:
            return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
        if not multi and info.get("roles"):
            return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
        roles = framework_roles(info)
        if multi:
            duplicates = {r for r in roles if roles.count(r) > 1}
            if duplicates:
                return "'FrameworkInfo.roles' contains duplicate items: " + stringify_set(duplicates)
        for role in roles:
            error = validate_role(role)
            if error:
                prefix = (
                    "'FrameworkInfo.roles' contains invalid role: "
                    if multi
                    else "'FrameworkInfo.role' is not a valid role: "
                )
                return prefix + error
        if info.get("id") and info["id"].get("value"):
            error = validate_id(info["id"]["value"])
            if error:
                return error
        whitelist = self.flags["roles"]
        if whitelist:
            allowed = {"*", *[r.strip() for r in whitelist.split(",")]}
            invalid = {r for r in roles if r not in allowed}
            if invalid:
                return f"Roles {stringify_set(invalid)} are not present in the master's --roles"
        if info.get("user") == "root" and not self.flags["root_submissions"]:
            return "User 'root' is not allowed to run frameworks without --root_submissions set"
        if info.get("id") and any(f.id == info["id"].get("value") for f in self.completed_frameworks):
            return "Framework has been removed"
        return None

    def subscribe(self, stream: Stream, stream_id: str, subscribe: dict) -> None:
        info = dict(subscribe["framework_info"])
        info.setdefault("failover_timeout", 0.0)
        info.setdefault("checkpoint", False)
        if not has_capability(info, "MULTI_ROLE"):
            info.setdefault("role", "*")

        def refuse(message: str) -> None:
            log(f"Refusing subscription of framework '{info.get('name')}': {message}")
            stream.write(encode({"type": "ERROR", "error": {"message": message}}))
            stream.close()

        error = self.validate_framework(info)
        if error is None:
            suppressed = set(subscribe.get("suppressed_roles", []))
            invalid = suppressed - set(framework_roles(info))
            if invalid:
                error = f"Suppressed roles {stringify_set(invalid)} are not contained in the set of roles"
        if error is not None:
            refuse(error)
            return
        log(
            f"Subscribing framework '{info.get('name')}' with checkpointing "
            f"{'enabled' if info['checkpoint'] else 'disabled'}"
        )
        framework_id = (info.get("id") or {}).get("value")
        if not framework_id:
            framework_id = f"{self.id}-{self.next_framework:04d}"
            self.next_framework += 1
            info["id"] = {"value": framework_id}
            framework = Framework(info)
            self.frameworks[framework_id] = framework
        else:
            framework = self.frameworks.get(framework_id)  # type: ignore[assignment]
            if framework is None:
                # Master::recoverFramework: not re-registered after a master failover yet, and no
                # agent has reported a task of it: rebuilt from the FrameworkInfo given.
                framework = Framework(info, recovered=True)
                self.frameworks[framework_id] = framework
            # validation::framework::preserveImmutableFields, then validateUpdate.
            info["user"] = framework.info.get("user", info.get("user"))
            info["checkpoint"] = framework.info.get("checkpoint", info["checkpoint"])
            if not framework.recovered and framework.info.get("principal") != info.get("principal"):
                refuse("Changing framework's principal is not allowed.")
                return
            if framework.recovered:
                log(f"Framework {framework_id} re-subscribed after a master failover")
            else:
                framework.reregistered_time = time.time()
                if framework.connected and framework.stream is not None:
                    # Master::failoverFramework: the old connection hears it failed over and closes.
                    framework.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    framework.close()
                log(f"Framework {framework_id} failed over")
            framework.info = info
            framework.recovered = False
            for offer_id in list(framework.offers):
                self.remove_offer(offer_id)
        framework.suppressed = set(subscribe.get("suppressed_roles", []))
        framework.stream, framework.stream_id = stream, stream_id
        framework.connected = framework.active = True
        framework.failover_deadline = None
        framework.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": framework_id},
                    "heartbeat_interval_seconds": HEARTBEAT_INTERVAL,
                    "master_info": self.info,
                },
            }
        )
        # Framework::heartbeat: the first HEARTBEAT follows SUBSCRIBED at once.
        framework.send({"type": "HEARTBEAT"})
        framework.next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
        stream.on_close(lambda: self._stream_closed(framework_id, stream))
        self.trigger_allocation()

    def update_framework(self, framework: Framework, update: dict) -> Response:
        # Master::updateFramework (UPDATE_FRAMEWORK): validateFramework, validateUpdate, the
        # suppressed roles; then the new FrameworkInfo and suppressed roles take effect, offers
        # of roles the framework left are rescinded.
        info = dict(update["framework_info"])
        info.setdefault("failover_timeout", 0.0)
        if not has_capability(info, "MULTI_ROLE"):
            info.setdefault("role", "*")
        error = self.validate_framework(info)
        if error is not None:
            return Response.text(400, f"Supplied FrameworkInfo is not valid: {error}")
        old = framework.info
        if old.get("principal") != info.get("principal"):
            error = "Changing framework's principal is not allowed."
        elif old.get("user") != info.get("user"):
            error = (
                f"Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{old.get('user')}' "
                f"to '{info.get('user')}'"
            )
        elif bool(old.get("checkpoint")) != bool(info.get("checkpoint")):
            error = (
                "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from "
                f"'{str(bool(old.get('checkpoint'))).lower()}' to '{str(bool(info.get('checkpoint'))).lower()}'"
            )
        if error is not None:
            return Response.text(400, f"FrameworkInfo update is not valid: {error}")
        suppressed = set(update.get("suppressed_roles", []))
        invalid = suppressed - set(framework_roles(info))
        if invalid:
            return Response.text(
                400,
                "'UpdateFramework' call is not valid: Suppressed roles "
                f"{stringify_set(invalid)} are not contained in the set of roles",
            )
        info["checkpoint"] = bool(old.get("checkpoint"))
        framework.info = info
        framework.suppressed = suppressed
        for offer_id, offer in list(framework.offers.items()):
            if offer["allocation_info"]["role"] not in framework.roles:
                self.remove_offer(offer_id, rescind=True)
        self.trigger_allocation()
        return Response(200)

    def _stream_closed(self, framework_id: str, stream: Stream) -> None:
        # Master::exited(FrameworkID, HttpConnection) -> _exited: disconnect, deactivate (its
        # offers are rescinded) and give it failover_timeout to come back.
        with self.lock:
            framework = self.frameworks.get(framework_id)
            if framework is None or framework.stream is not stream:
                return
            log(f"Framework {framework_id} disconnected")
            framework.connected = framework.active = False
            framework.stream = framework.stream_id = None
            for offer_id in list(framework.offers):
                self.remove_offer(offer_id)
            timeout = float(framework.info.get("failover_timeout", 0.0))
            log(f"Giving framework {framework_id} {timeout}secs to failover")
            framework.failover_deadline = time.monotonic() + timeout
        threading.Thread(target=self.check_failover_timeouts, daemon=True).start()

    def check_failover_timeouts(self) -> None:
        # Master::frameworkFailoverTimeout: a framework that did not come back is removed.
        with self.lock:
            now = time.monotonic()
            for framework in list(self.frameworks.values()):
                deadline = framework.failover_deadline
                if deadline is not None and not framework.connected and now >= deadline:
                    log(f"Framework failover timeout, removing framework {framework.id}")
                    self.remove_framework(framework)

    def heartbeats(self) -> None:
        now = time.monotonic()
        with self.lock:
            for framework in self.frameworks.values():
                if framework.connected and now >= framework.next_heartbeat:
                    framework.send({"type": "HEARTBEAT"})
                    framework.next_heartbeat = now + HEARTBEAT_INTERVAL

    def remove_framework(self, framework: Framework) -> None:
        # Master::removeFramework: offers go, every agent shuts the framework down, its tasks are
        # marked TASK_KILLED (no update is sent) and completed, the framework moves to
        # completed_frameworks (at most --max_completed_frameworks).
        log(f"Removing framework {framework.id}")
        framework.active = False
        for offer_id in list(framework.offers):
            self.remove_offer(offer_id)
        for agent_id in list(self.agents):
            self.to_agent(agent_id, "shutdown_framework", {"framework_id": {"value": framework.id}})
        for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
            self.kill_task_of_removed_framework(framework, task)
        framework.unreachable_tasks.clear()
        if framework.connected:
            framework.close()
        framework.connected = False
        framework.stream = framework.stream_id = None
        framework.failover_deadline = None
        framework.unregistered_time = time.time()
        self.frameworks.pop(framework.id, None)
        self.completed_frameworks.append(framework)
        del self.completed_frameworks[: -int(self.flags["max_completed_frameworks"]) or None]
        self.trigger_allocation()

    # ---- operator teardown (src/master/http.cpp Master::Http::teardown, _teardown, __teardown) --
    def http_teardown(self, req: Request) -> Response:
        # POST /master/teardown with the form body `frameworkId=<id>`.
        if req.method != "POST":
            return method_not_allowed(["POST"], req.method)
        try:
            values = urllib.parse.parse_qs(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            return Response.text(400, f"Unable to decode query string: {exc}")
        if "frameworkId" not in values:
            return Response.text(400, "Missing 'frameworkId' query parameter in the request body")
        return self.operator_teardown(values["frameworkId"][-1])

    def operator_teardown(self, framework_id: str) -> Response:
        with self.lock:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                return Response.text(400, "No framework found with specified ID")
            self.remove_framework(framework)
        return Response(200)

    # ---- KILL, ACKNOWLEDGE, RECONCILE -------------------------------------------------------------
    def kill(self, framework: Framework, kill: dict) -> None:
        # Master::kill
        task_id = kill["task_id"]
        agent_id = kill.get("agent_id")
        task = framework.tasks.get(task_id["value"])
        if task is None:
            log(
                f"Cannot kill task {task_id['value']} of framework {framework.id} because it is unknown; "
                "performing reconciliation"
            )
            self.reconcile(framework, [{"task_id": task_id, **({"agent_id": agent_id} if agent_id else {})}])
            return
        if agent_id and agent_id != task["agent_id"]:
            log(f"Cannot kill task {task_id['value']} of framework {framework.id}: it belongs to a different agent")
            return
        body: dict[str, Any] = {"framework_id": {"value": framework.id}, "task_id": task_id}
        if "kill_policy" in kill:
            body["kill_policy"] = kill["kill_policy"]
        # slave->killedTasks: a kill the agent misses is sent again when it re-registers.
        self.killed_tasks.setdefault(task["agent_id"]["value"], {})[(framework.id, task_id["value"])] = body
        agent = self.agents.get(task["agent_id"]["value"])
        if agent is None or not agent["connected"]:
            log(f"Cannot kill task {task_id['value']}: the agent is disconnected; the kill will be retried", "W")
            return
        self.to_agent(task["agent_id"]["value"], "kill_task", body)

    def acknowledge(self, framework: Framework, ack: dict) -> None:
        # Master::acknowledge: forwarded to the agent; a terminal task whose latest update this
        # acknowledges is removed (moved to completed_tasks).
        agent_id = ack["agent_id"]["value"]
        if agent_id not in self.agents:
            log(
                f"Cannot send status update acknowledgement for task {ack['task_id']['value']} to agent "
                f"{agent_id}: not registered",
                "W",
            )
            return
        self.to_agent(
            agent_id,
            "acknowledge",
            {"framework_id": {"value": framework.id}, "task_id": ack["task_id"], "uuid": ack["uuid"]},
        )
        task = framework.tasks.get(ack["task_id"]["value"])
        if task is not None and task.get("status_update_uuid") == ack["uuid"]:
            task.pop("status_update_uuid_pending", None)
            if task["status_update_state"] in TERMINAL_TASK_STATES:
                framework.complete_task(task, int(self.flags["max_completed_tasks_per_framework"]))

    def _agent_recovered(self, agent_id: str) -> bool:
        # "slaves.recovered": agents the registry knows that have not re-registered yet. The
        # double's registry is in memory, so it guesses: an agent id `<master id>-S<n>` of a
        # previous master (one whose id this master has seen in a framework id or a re-registered
        # agent id) counts as recovered until --agent_reregister_timeout after the election;
        # any other unknown agent id is unknown (case 6).
        prefix, sep, number = agent_id.rpartition("-S")
        if not sep or not number.isdigit() or prefix == self.id:
            return False
        if agent_id in self.agents or agent_id in self.unreachable:
            return False
        seen = {f.id.rpartition("-")[0] for f in [*self.frameworks.values(), *self.completed_frameworks]}
        seen |= {a.rpartition("-S")[0] for a in self.agents}
        elected = self.elected_time or 0.0
        return prefix in seen and time.time() - elected < self.flags["agent_reregister_timeout"].secs

    def reconcile(self, framework: Framework, tasks: list[dict]) -> None:
        # Master::reconcile (docs/reconciliation.md): UPDATEs from the master, no uuid,
        # REASON_RECONCILIATION.
        pa = framework.partition_aware
        # Only `framework.tasks`: Framework::getTask does not look at unreachable tasks, whose
        # agent's state answers for them (TASK_UNREACHABLE).
        if not tasks:
            for task in list(framework.tasks.values()):
                framework.send({"type": "UPDATE", "update": {"status": self._latest(framework, task)}})
            return
        for entry in tasks:
            task_id = entry["task_id"]
            agent_id = (entry.get("agent_id") or {}).get("value")
            known = framework.tasks.get(task_id["value"])
            if known is not None:
                status = self._latest(framework, known)
            elif agent_id and self._agent_recovered(agent_id):
                log(f"Dropping reconciliation of task {task_id['value']}: agent {agent_id} has not yet reregistered")
                continue
            elif agent_id and agent_id in self.agents:
                status = status_update(
                    framework.id, agent_id, task_id, "TASK_GONE" if pa else "TASK_LOST",
                    "Reconciliation: Task is unknown to the agent", "REASON_RECONCILIATION",
                )  # fmt: skip
            elif agent_id and agent_id in self.unreachable:
                status = status_update(
                    framework.id, agent_id, task_id, "TASK_UNREACHABLE" if pa else "TASK_LOST",
                    "Reconciliation: Task is unreachable", "REASON_RECONCILIATION",
                    unreachable_time=self.unreachable[agent_id],
                )  # fmt: skip
            else:
                status = status_update(
                    framework.id, agent_id, task_id, "TASK_UNKNOWN" if pa else "TASK_LOST",
                    "Reconciliation: Task is unknown", "REASON_RECONCILIATION",
                )  # fmt: skip
            framework.send({"type": "UPDATE", "update": {"status": status}})

    @staticmethod
    def _latest(framework: Framework, task: dict) -> dict:
        state = task.get("status_update_state") or task["state"]
        status = status_update(
            framework.id,
            task["agent_id"]["value"],
            task["task_id"],
            state,
            "Reconciliation: Latest task state",
            "REASON_RECONCILIATION",
            executor_id=task.get("executor_id"),
        )
        last = task["statuses"][-1] if task.get("statuses") else {}
        for key in ("healthy", "container_status", "check_status"):
            if key in last:
                status[key] = last[key]
        return status
