# ruff: noqa: PLR0911, PLR0912 - one return per upstream error, in upstream's order
"""Tasks on the Mesos PROTOCOL DOUBLE's master: ACCEPT, launches, status updates (not Apache Mesos).

Follows src/master/master.cpp (`accept`/`_accept`: offer validation, TASK_LOST/TASK_DROPPED with
REASON_INVALID_OFFERS, TASK_ERROR with REASON_TASK_INVALID, "Agent removed"/"Agent disconnected";
`addTask`; `statusUpdate`/`forward`/`updateTask`; `_reregisterSlave` with the agent's tasks and
frameworks (recovered frameworks); `_removeSlave`/`__removeSlave`: TASK_LOST,
TASK_UNREACHABLE), src/master/validation.cpp (`offer::validate`, `task::validate`),
src/common/validation.cpp (`validateID`, `validateContainerInfo`), src/master/metrics.cpp
(task state gauges and counters). Tasks travel to the agent over the double's channel
(channel.py: `run_task`, `kill_task`, `shutdown_framework`, `acknowledge`, `reconcile_tasks`).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from .allocator import Bag, refuse_seconds, stringify
from .channel import CHANNEL_TIMEOUT, MASTER_TO_AGENT
from .common import log
from .frameworks import TERMINAL_TASK_STATES, Framework, new_task, status_update
from .scheduler import validate_id
from .web import http_json

GAUGE_STATES = ("staging", "starting", "running", "killing", "unreachable")
COUNTER_STATES = ("finished", "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator")


def validate_command(command: dict) -> str | None:
    # src/common/validation.cpp validateCommandInfo -> validateEnvironment (VALUE variables).
    for variable in (command.get("environment") or {}).get("variables", []):
        if not isinstance(variable, dict):
            continue
        kind = variable.get("type", "VALUE")
        name = variable.get("name", "")
        if kind == "UNKNOWN":
            return "Environment variable of type 'UNKNOWN' is not allowed"
        if kind == "VALUE":
            if "value" not in variable:
                return f"Environment variable '{name}' of type 'VALUE' must have a value set"
            if "secret" in variable:
                return f"Environment variable '{name}' of type 'VALUE' must not have a secret set"
        if kind == "SECRET":
            if "secret" not in variable:
                return f"Environment variable '{name}' of type 'SECRET' must have a secret set"
            if "value" in variable:
                return f"Environment variable '{name}' of type 'SECRET' must not have a value set"
    return None


def validate_health_check(check: dict) -> str | None:
    # src/common/validation.cpp validateHealthCheck
    kind = check.get("type")
    if kind is None:
        return "HealthCheck must specify 'type'"
    if kind == "COMMAND":
        command = check.get("command")
        if not isinstance(command, dict):
            return "Expecting 'command' to be set for COMMAND health check"
        if "value" not in command:
            shell = command.get("shell", True)
            return "Command health check must contain " + ("'shell command'" if shell else "'executable path'")
        error = validate_command(command)
        if error:
            return f"Health check's `CommandInfo` is invalid: {error}"
    elif kind == "HTTP":
        http = check.get("http")
        if not isinstance(http, dict):
            return "Expecting 'http' to be set for HTTP health check"
        if "scheme" in http and http["scheme"] not in ("http", "https"):
            return f"Unsupported HTTP health check scheme: '{http['scheme']}'"
        if "path" in http and not str(http["path"]).startswith("/"):
            return f"The path '{http['path']}' of HTTP health check must start with '/'"
    elif kind == "TCP":
        if not isinstance(check.get("tcp"), dict):
            return "Expecting 'tcp' to be set for TCP health check"
    else:
        return f"'{kind}' is not a valid health check type"
    for field in ("delay_seconds", "grace_period_seconds", "interval_seconds", "timeout_seconds"):
        value = check.get(field)
        if isinstance(value, (int, float)) and value < 0:
            return f"Expecting '{field}' to be non-negative"
    return None


class TaskMixin:
    """ACCEPT and the lives of tasks (mixed into Master)."""

    id: str
    flags: Any
    lock: Any
    agents: dict[str, dict]
    frameworks: dict[str, Framework]
    completed_frameworks: list[Framework]
    offers: dict[str, dict]
    task_counters: dict[str, int]
    killed_tasks: dict[str, dict[tuple[str, str], dict]]

    if TYPE_CHECKING:  # provided by the other parts of Master

        def remove_offer(self, offer_id: str, rescind: bool = False, filter_seconds: float | None = None) -> None:
            """Another part of Master."""

        def trigger_allocation(self) -> None:
            """Another part of Master."""

        def rescind_agent_offers(self, agent_id: str) -> None:
            """Another part of Master."""

    # ---- the channel to agents ----------------------------------------------------------------
    def to_agent(self, agent_id: str, action: str, body: dict) -> None:
        """POST one master->agent message (channel.py) from its own thread; failures are logged."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        address = agent["pid"].split("@", 1)[1]
        url = f"http://{address}{MASTER_TO_AGENT}/{action}"
        payload = {"master_id": self.id, **body}

        def post() -> None:
            try:
                status, answer = http_json("POST", url, payload, CHANNEL_TIMEOUT)
                if status != 200:
                    log(f"Agent {agent_id} answered {status} to {action}: {answer}", "W")
            except OSError as exc:
                log(f"Failed to send {action} to agent {agent_id}: {exc}", "W")

        threading.Thread(target=post, daemon=True).start()

    # ---- updates to frameworks ------------------------------------------------------------------
    def forward(self, framework: Framework, status: dict) -> None:
        # Master::forward: an UPDATE event (a connected framework only; the agent retries).
        framework.send({"type": "UPDATE", "update": {"status": status}})

    def count_terminal(self, state: str) -> None:
        name = state[len("TASK_") :].lower()
        if name in COUNTER_STATES:
            self.task_counters[name] += 1

    def _master_update(self, framework: Framework, status: dict) -> None:
        # An update about a task the master never added (invalid launch): counted and forwarded.
        self.count_terminal(status["state"])
        self.forward(framework, status)

    def update_task(self, task: dict, status: dict) -> None:
        # Master::updateTask: latest state, the update's state and uuid, the statuses list;
        # a task that turns terminal gives its resources back and counts in master/tasks_*.
        latest = status.get("latest_state") or status["state"]
        was_terminal = task["state"] in TERMINAL_TASK_STATES
        task["state"] = latest
        task["status_update_state"] = status["state"]
        if status.get("uuid"):
            task["status_update_uuid"] = status["uuid"]
        else:
            task.pop("status_update_uuid", None)
        last = task["statuses"][-1] if task["statuses"] else {}
        if not status.get("uuid") or last.get("uuid") != status.get("uuid"):
            task["statuses"].append({k: v for k, v in status.items() if k not in ("data", "latest_state")})
        if latest in TERMINAL_TASK_STATES and not was_terminal:
            self.count_terminal(latest)
            self.trigger_allocation()

    # ---- ACCEPT -------------------------------------------------------------------------------
    def _validate_offers(self, framework: Framework, offer_ids: list[dict]) -> str | None:
        # validation::offer::validate: unique ids, known offers, this framework's, one role, one agent.
        seen = set()
        for oid in offer_ids:
            if oid["value"] in seen:
                return f"Duplicate offer {oid['value']} in offer list"
            seen.add(oid["value"])
        for oid in offer_ids:
            if oid["value"] not in self.offers:
                return f"Offer {oid['value']} is no longer valid"
        for oid in offer_ids:
            owner = self.offers[oid["value"]]["framework_id"]["value"]
            if owner != framework.id:
                return f"Offer {oid['value']} has invalid framework {owner} while framework {framework.id} is expected"
        role = None
        for oid in offer_ids:
            this = self.offers[oid["value"]]["allocation_info"]["role"]
            if role is not None and this != role:
                return (
                    f"Aggregated offers must be allocated to the same role. Offer {oid['value']} uses role "
                    f"'{this} but another is using role '{role}"
                )
            role = this
        agent = None
        for oid in offer_ids:
            this = self.offers[oid["value"]]["agent_id"]["value"]
            if agent is not None and this != agent:
                return (
                    f"Aggregated offers must belong to one single agent. Offer {oid['value']} uses agent {this} "
                    f"and agent {agent}"
                )
            agent = this
        return None

    def accept(self, framework: Framework, accept: dict) -> None:
        # Master::accept / _accept
        offer_ids = accept.get("offer_ids", [])
        operations = accept.get("operations", [])
        error = "No offers specified" if not offer_ids else self._validate_offers(framework, offer_ids)
        lost = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
        if error is not None:
            for oid in offer_ids:
                offer = self.offers.get(oid["value"])
                if offer is not None and offer["framework_id"]["value"] == framework.id:
                    self.remove_offer(oid["value"])
            log(f"ACCEPT call used invalid offers: {error}", "W")
            for task in self._launched(operations):
                status = status_update(
                    framework.id, task["agent_id"]["value"], task["task_id"], lost,
                    f"Task launched with invalid offers: {error}", "REASON_INVALID_OFFERS",
                )  # fmt: skip
                self._master_update(framework, status)
            return
        first = self.offers[offer_ids[0]["value"]]
        agent_id = first["agent_id"]["value"]
        role = first["allocation_info"]["role"]
        offered = Bag()
        for oid in offer_ids:
            offered = offered + Bag(self.offers[oid["value"]]["resources"])
            self.remove_offer(oid["value"])
        agent = self.agents.get(agent_id)
        if agent is None or not agent["connected"]:
            for task in self._launched(operations):
                status = status_update(
                    framework.id, task["agent_id"]["value"], task["task_id"], lost,
                    "Agent removed" if agent is None else "Agent disconnected",
                    "REASON_SLAVE_REMOVED" if agent is None else "REASON_SLAVE_DISCONNECTED",
                )  # fmt: skip
                self._master_update(framework, status)
            return
        remaining = offered
        for operation in operations:
            kind = operation.get("type", "UNKNOWN")
            if kind == "LAUNCH":
                for task_info in operation.get("launch", {}).get("task_infos", []):
                    if "id" in operation:
                        error = "The `id` field cannot be set on LAUNCH operations"
                    else:
                        error = self.validate_task(task_info, framework, agent_id, remaining, role)
                    if error is not None:
                        status = status_update(
                            framework.id, task_info["agent_id"]["value"], task_info["task_id"], "TASK_ERROR",
                            error, "REASON_TASK_INVALID",
                        )  # fmt: skip
                        self._master_update(framework, status)
                        continue
                    remaining = remaining - Bag(task_info["resources"])
                    self.launch(framework, task_info, agent_id, role)
            elif kind == "LAUNCH_GROUP":
                # Not imitated (doubles/README.md): each task of the group gets TASK_ERROR.
                for task_info in operation.get("launch_group", {}).get("task_group", {}).get("tasks", []):
                    status = status_update(
                        framework.id, task_info["agent_id"]["value"], task_info["task_id"], "TASK_ERROR",
                        "LAUNCH_GROUP is not supported by the Mesos protocol double", "REASON_TASK_GROUP_INVALID",
                    )  # fmt: skip
                    self._master_update(framework, status)
            else:
                log(f"Ignoring {kind} operation: not supported by the Mesos protocol double", "W")
        # The unused resources go back with the ACCEPT's filters (refuse_seconds 5 by default).
        unused = remaining.to_list(role)
        if unused:
            framework.filters.append(
                {
                    "agent_id": agent_id,
                    "resources": Bag(unused),
                    "expires": time.monotonic() + refuse_seconds(accept.get("filters")),
                }
            )
        self.trigger_allocation()

    @staticmethod
    def _launched(operations: list[dict]) -> list[dict]:
        tasks: list[dict] = []
        for operation in operations:
            if operation.get("type") == "LAUNCH":
                tasks += operation.get("launch", {}).get("task_infos", [])
            elif operation.get("type") == "LAUNCH_GROUP":
                tasks += operation.get("launch_group", {}).get("task_group", {}).get("tasks", [])
        return tasks

    def validate_task(self, task: dict, framework: Framework, agent_id: str, available: Bag, role: str) -> str | None:
        # validation::task::validate: validateTask (in upstream's order), then validateExecutor.
        task_id = task["task_id"]["value"]
        error = validate_id(task_id)
        if error:
            return error
        if task_id in framework.tasks:
            return f"Task has duplicate ID: {task_id}"
        if task_id in framework.unreachable_tasks:
            return f"Task reuses the ID of an unreachable task: {task_id}"
        if task["agent_id"]["value"] != agent_id:
            return f"Task uses invalid agent {task['agent_id']['value']} while agent {agent_id} is expected"
        grace = task.get("kill_policy", {}).get("grace_period", {}).get("nanoseconds", 0)
        if isinstance(grace, (int, float)) and grace < 0:
            return "Task's 'kill_policy.grace_period' must be non-negative"
        if "health_check" in task:
            error = validate_health_check(task["health_check"])
            if error:
                return f"Task uses invalid health check: {error}"
        if not task.get("resources"):
            return "Task uses no resources"
        for res in task["resources"]:
            value = res.get("scalar", {}).get("value")
            if res["type"] == "SCALAR" and (value is None or float(value) < 0):
                return f"Task uses invalid resources: Invalid scalar resource {res['name']}"
            if res["type"] == "RANGES" and "ranges" not in res:
                return f"Task uses invalid resources: Invalid ranges resource {res['name']}"
        if "command" in task:
            error = validate_command(task["command"])
            if error:
                return f"Task's `CommandInfo` is invalid: {error}"
        container = task.get("container")
        if container is not None:
            # src/common/validation.cpp validateContainerInfo
            prefix = "Task's `ContainerInfo` is invalid: "
            if container.get("type") == "DOCKER" and "docker" not in container:
                return prefix + "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
            for parameter in container.get("docker", {}).get("parameters", []):
                if parameter.get("key") == "name":
                    return prefix + "Parameter in DockerInfo must not be 'name'"
        if ("executor" in task) == ("command" in task):
            return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
        total = [{**r, "allocation_info": {"role": role}} for r in task["resources"]]
        if "executor" in task:
            total += [{**r, "allocation_info": {"role": role}} for r in task["executor"].get("resources", [])]
        if not available.contains(Bag(total)):
            return (
                f"Total resources {stringify(Bag(total).to_list(role))} required by task and its executor is more "
                f"than available {stringify(available.to_list(role))}"
            )
        return None

    def launch(self, framework: Framework, task_info: dict, agent_id: str, role: str) -> None:
        # Master::addTask + RunTaskMessage (channel `run_task`).
        task = new_task(task_info, framework.id, agent_id, role, framework.info.get("user"))
        framework.tasks[task_info["task_id"]["value"]] = task
        sent = dict(task_info)
        sent["resources"] = [{**r, "allocation_info": {"role": role}} for r in task_info["resources"]]
        log(f"Launching task {task_info['task_id']['value']} of framework {framework.id} on agent {agent_id}")
        self.to_agent(agent_id, "run_task", {"framework": framework.info, "task": sent})

    # ---- from agents --------------------------------------------------------------------------
    def agent_status_update(self, agent_id: str, body: dict) -> None:
        # Master::statusUpdate: record the state, forward the update (with the agent's uuid).
        update = body.get("update") or {}
        status = dict(update.get("status") or {})
        if "latest_state" in update:
            status["latest_state"] = update["latest_state"]
        framework_id = (update.get("framework_id") or {}).get("value")
        framework = self.frameworks.get(framework_id or "")
        if framework is None or "task_id" not in status:
            log(f"Ignoring status update from agent {agent_id} for unknown framework {framework_id}", "W")
            return
        status.setdefault("agent_id", {"value": agent_id})
        task = framework.tasks.get(status["task_id"]["value"])
        if task is not None:
            self.update_task(task, status)
            if not status.get("uuid") and task["state"] in TERMINAL_TASK_STATES:
                framework.complete_task(task, int(self.flags["max_completed_tasks_per_framework"]))
        status.pop("latest_state", None)
        self.forward(framework, status)

    def agent_reregistered_tasks(self, agent_id: str, tasks: list[dict], frameworks: list[dict]) -> None:
        # Master::_reregisterSlave / recoverFramework: frameworks the master does not know yet
        # become recovered frameworks (inactive, disconnected) holding their tasks; tasks of
        # completed frameworks are shut down; known tasks missing on the agent are reconciled.
        completed = {f.id for f in self.completed_frameworks}
        for info in frameworks:
            framework_id = (info.get("id") or {}).get("value")
            if framework_id and framework_id not in self.frameworks and framework_id not in completed:
                self.frameworks[framework_id] = Framework(dict(info), recovered=True)
        reported: set[tuple[str, str]] = set()
        for task in tasks:
            framework_id = task["framework_id"]["value"]
            reported.add((framework_id, task["task_id"]["value"]))
            if framework_id in completed:
                log(f"Shutting down framework {framework_id} at reregistered agent {agent_id}: it is completed")
                self.to_agent(agent_id, "shutdown_framework", {"framework_id": {"value": framework_id}})
                continue
            framework = self.frameworks.get(framework_id)
            if framework is None:
                framework = Framework({"id": {"value": framework_id}, "name": "", "user": ""}, recovered=True)
                self.frameworks[framework_id] = framework
            known = dict(task, agent_id={"value": agent_id})
            known.setdefault("statuses", [])
            framework.unreachable_tasks.pop(task["task_id"]["value"], None)
            framework.tasks[task["task_id"]["value"]] = known
        # Master::___reregisterSlave: kills it missed while disconnected go out again.
        pending = self.killed_tasks.pop(agent_id, {})
        for (framework_id, task_id), body in pending.items():
            if (framework_id, task_id) in reported:
                self.to_agent(agent_id, "kill_task", body)
        for framework in self.frameworks.values():
            missing = [
                t["task_id"]
                for t in framework.tasks.values()
                if t["agent_id"]["value"] == agent_id and (framework.id, t["task_id"]["value"]) not in reported
            ]
            if missing:
                self.to_agent(agent_id, "reconcile_tasks", {"framework_id": {"value": framework.id}, "tasks": missing})
        self.trigger_allocation()

    def agent_tasks_lost(self, agent_id: str, hostname: str, cause: str, unreachable_time: float | None) -> None:
        # __removeSlave: marked unreachable -> TASK_UNREACHABLE (partition-aware) or TASK_LOST,
        # REASON_SLAVE_REMOVED; removed otherwise -> TASK_LOST "Agent <host> removed: <cause>"
        # (_removeSlave). Offers of the agent are rescinded, frameworks told (FAILURE).
        self.rescind_agent_offers(agent_id)
        # Master::sendSlaveLost: every connected framework gets a FAILURE event for the agent.
        for framework in self.frameworks.values():
            if framework.connected:
                framework.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
        limit = int(self.flags["max_completed_tasks_per_framework"])
        for framework in self.frameworks.values():
            for task in [t for t in framework.tasks.values() if t["agent_id"]["value"] == agent_id]:
                if task["state"] in TERMINAL_TASK_STATES:
                    framework.complete_task(task, limit)
                    continue
                if unreachable_time is not None:
                    state = "TASK_UNREACHABLE" if framework.partition_aware else "TASK_LOST"
                    message = cause
                else:
                    state = "TASK_LOST"
                    message = f"Agent {hostname} removed: {cause}"
                status = status_update(
                    framework.id, agent_id, task["task_id"], state, message, "REASON_SLAVE_REMOVED",
                    executor_id=task.get("executor_id"), unreachable_time=unreachable_time,
                )  # fmt: skip
                self.update_task(task, status)
                if state == "TASK_UNREACHABLE":
                    framework.tasks.pop(task["task_id"]["value"], None)
                    framework.unreachable_tasks[task["task_id"]["value"]] = task
                else:
                    framework.complete_task(task, limit)
                self.forward(framework, status)

    def kill_task_of_removed_framework(self, framework: Framework, task: dict) -> None:
        # Master::removeFramework: TASK_KILLED, REASON_FRAMEWORK_REMOVED, no update sent.
        status = status_update(
            framework.id, task["agent_id"]["value"], task["task_id"], "TASK_KILLED",
            f"Framework {framework.id} removed", "REASON_FRAMEWORK_REMOVED", executor_id=task.get("executor_id"),
        )  # fmt: skip
        if task["state"] not in TERMINAL_TASK_STATES:
            self.update_task(task, status)
        framework.complete_task(task, int(self.flags["max_completed_tasks_per_framework"]))

    # ---- models ---------------------------------------------------------------------------------
    def task_metrics(self) -> dict[str, float]:
        # src/master/metrics.cpp: staging..unreachable are gauges of the known tasks, the
        # terminal states counters.
        gauges = dict.fromkeys(GAUGE_STATES, 0)
        for framework in self.frameworks.values():
            for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
                name = task["state"][len("TASK_") :].lower()
                if name in gauges:
                    gauges[name] += 1
        out = {f"master/tasks_{k}": float(v) for k, v in gauges.items()}
        out.update({f"master/tasks_{k}": float(v) for k, v in self.task_counters.items()})
        return out

    def used_resources(self) -> Bag:
        bag = Bag()
        for framework in self.frameworks.values():
            bag = bag + framework.used()
        return bag

    def v1_tasks(self) -> dict:
        # GET_TASKS (src/master/http.cpp _getTasks)
        tasks: list[dict] = []
        unreachable: list[dict] = []
        completed: list[dict] = []
        for framework in self.frameworks.values():
            tasks += list(framework.tasks.values())
            unreachable += list(framework.unreachable_tasks.values())
            completed += framework.completed_tasks
        for framework in self.completed_frameworks:
            completed += framework.completed_tasks
        return {"tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed}

    def v1_frameworks(self) -> dict:
        # GET_FRAMEWORKS (src/master/http.cpp _getFrameworks)
        return {
            "frameworks": [f.v1() for f in self.frameworks.values()],
            "completed_frameworks": [f.v1() for f in self.completed_frameworks],
        }
