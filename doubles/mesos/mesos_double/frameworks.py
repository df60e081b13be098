"""Frameworks and tasks as the Mesos PROTOCOL DOUBLE's master keeps them (not Apache Mesos).

Follows src/master/framework.cpp and src/master/master.hpp (`Framework`: info, connected /
active / recovered, registered/reregistered/unregistered times, tasks, completed tasks (at
most --max_completed_tasks_per_framework), offers), src/master/master.cpp (`newFrameworkId`:
``<master id>-<4-digit counter>``, `addTask`, `updateTask`, the task state counters of
`Master::Metrics`), src/common/protobuf_utils.cpp (`createTask`, `createStatusUpdate`) and the
JSON models of src/common/http.cpp (`json(Task)`, `json(TaskStatus)`, `json(Offer)`),
src/master/readonly_handler.cpp (`FullFrameworkWriter`, `Summary<Framework>`) and
src/master/http.cpp (`model(Framework)` of GET_FRAMEWORKS, GET_TASKS).
"""

from __future__ import annotations

import time
from typing import Any

from .allocator import Bag
from .common import TERMINAL_TASK_STATES
from .recordio import encode
from .resources import resources_v0
from .web import Stream, drop_empty

# src/master/constants.hpp DEFAULT_HEARTBEAT_INTERVAL
HEARTBEAT_INTERVAL = 15.0


def nanos(seconds: float) -> dict:
    return {"nanoseconds": int(seconds * 1e9)}


def framework_roles(info: dict) -> list[str]:
    # protobuf::framework::getRoles: `roles` for MULTI_ROLE frameworks, else `role` ("*").
    if has_capability(info, "MULTI_ROLE"):
        return list(info.get("roles", []))
    return [info.get("role", "*")]


def has_capability(info: dict, name: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == name for c in info.get("capabilities", []))


def status_update(  # noqa: PLR0917 - protobuf::createStatusUpdate's parameters, in its order
    framework_id: str,
    agent_id: str | None,
    task_id: dict,
    state: str,
    message: str,
    reason: str,
    executor_id: dict | None = None,
    unreachable_time: float | None = None,
) -> dict:
    """protobuf::createStatusUpdate for SOURCE_MASTER updates: no uuid, nothing to acknowledge."""
    status: dict[str, Any] = {
        "task_id": task_id,
        "state": state,
        "source": "SOURCE_MASTER",
        "message": message,
        "reason": reason,
        "timestamp": time.time(),
    }
    if agent_id:
        status["agent_id"] = {"value": agent_id}
    if executor_id:
        status["executor_id"] = executor_id
    if unreachable_time is not None:
        status["unreachable_time"] = nanos(unreachable_time)
    return status


class Framework:
    def __init__(self, info: dict, recovered: bool = False) -> None:
        self.info = info
        self.id: str = info["id"]["value"]
        self.stream: Stream | None = None
        self.stream_id: str | None = None
        self.connected = False
        self.active = False
        self.recovered = recovered
        now = time.time()
        self.registered_time = now
        self.reregistered_time = now
        self.unregistered_time = 0.0
        self.tasks: dict[str, dict] = {}
        self.unreachable_tasks: dict[str, dict] = {}
        self.completed_tasks: list[dict] = []
        self.offers: dict[str, dict] = {}
        self.filters: list[dict] = []
        self.suppressed: set[str] = set()
        self.allocations = 0
        self.next_heartbeat = 0.0
        self.failover_deadline: float | None = None

    @property
    def partition_aware(self) -> bool:
        return has_capability(self.info, "PARTITION_AWARE")

    @property
    def roles(self) -> list[str]:
        return framework_roles(self.info)

    def send(self, event: dict) -> bool:
        # Framework::send over its StreamingHttpConnection: one RecordIO record per event.
        if self.stream is None:
            return False
        return self.stream.write(encode(event))

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def used(self) -> Bag:
        bag = Bag()
        for task in self.tasks.values():
            if task["state"] not in TERMINAL_TASK_STATES:
                bag = bag + Bag(task["resources"])
        return bag

    def offered(self) -> Bag:
        bag = Bag()
        for offer in self.offers.values():
            bag = bag + Bag(offer["resources"])
        return bag

    def complete_task(self, task: dict, limit: int) -> None:
        self.tasks.pop(task["task_id"]["value"], None)
        self.completed_tasks.append(task)
        del self.completed_tasks[:-limit]

    # ---- models -------------------------------------------------------------------------------
    def v0(self, agents: dict[str, dict]) -> dict:
        # FullFrameworkWriter (readonly_handler.cpp), with Summary<Framework> first.
        info = self.info
        used = self.used()
        offered = self.offered()
        model: dict[str, Any] = {
            "id": self.id,
            "name": info.get("name", ""),
            "used_resources": resources_v0(used.to_list()),
            "offered_resources": resources_v0(offered.to_list()),
            "capabilities": [c.get("type") for c in info.get("capabilities", []) if isinstance(c, dict)],
            "hostname": info.get("hostname", ""),
            "webui_url": info.get("webui_url", ""),
            "active": self.active,
            "connected": self.connected,
            "recovered": self.recovered,
            "user": info.get("user", ""),
            "failover_timeout": float(info.get("failover_timeout", 0.0)),
            "checkpoint": bool(info.get("checkpoint", False)),
            "registered_time": self.registered_time,
            "unregistered_time": self.unregistered_time,
        }
        if "principal" in info:
            model["principal"] = info["principal"]
        model["resources"] = resources_v0((used + offered).to_list())
        if self.reregistered_time != self.registered_time:
            model["reregistered_time"] = self.reregistered_time
        if has_capability(info, "MULTI_ROLE"):
            model["roles"] = info.get("roles", [])
        else:
            model["role"] = info.get("role", "*")
        model["tasks"] = [task_v0(t) for t in self.tasks.values()]
        model["unreachable_tasks"] = [task_v0(t) for t in self.unreachable_tasks.values()]
        model["completed_tasks"] = [task_v0(t) for t in self.completed_tasks]
        model["offers"] = [offer_v0(o) for o in self.offers.values()]
        model["executors"] = []
        if "labels" in info:
            model["labels"] = info["labels"].get("labels", [])
        model["offer_constraints"] = {}
        return model

    def v1(self) -> dict:
        # model(Framework) of src/master/http.cpp (GET_FRAMEWORKS).
        model = {
            "framework_info": self.info,
            "active": self.active,
            "connected": self.connected,
            "recovered": self.recovered,
            "registered_time": nanos(self.registered_time),
            "reregistered_time": nanos(self.reregistered_time),
            "offers": list(self.offers.values()),
            "allocated_resources": self.used().to_list(self.roles[0] if self.roles else "*"),
            "offered_resources": self.offered().to_list(self.roles[0] if self.roles else "*"),
        }
        if self.unregistered_time:
            model["unregistered_time"] = nanos(self.unregistered_time)
        return drop_empty(model)


SUMMARY_STATES = (
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_KILLED",
    "TASK_FAILED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_UNREACHABLE",
)


def state_summary(frameworks: list[Framework], agents: dict[str, dict]) -> tuple[list[dict], dict[str, dict]]:
    """ReadOnlyHandler::stateSummary's frameworks (Summary<Framework> + TaskStateSummary +
    slave_ids) and, per agent id, the TaskStateSummary + framework_ids to add to its model
    (TaskStateSummaries and SlaveFrameworkMapping count tasks, unreachable and completed ones)."""
    per_agent: dict[str, dict] = {
        agent_id: {**dict.fromkeys(SUMMARY_STATES, 0), "framework_ids": []} for agent_id in agents
    }
    models = []
    for framework in frameworks:
        full = framework.v0(agents)
        model = {
            k: full[k]
            for k in (
                "id",
                "name",
                "used_resources",
                "offered_resources",
                "capabilities",
                "hostname",
                "webui_url",
                "active",
                "connected",
                "recovered",
            )
        }
        model.update(dict.fromkeys(SUMMARY_STATES, 0))
        slave_ids: list[str] = []
        tasks = [*framework.tasks.values(), *framework.unreachable_tasks.values(), *framework.completed_tasks]
        for task in tasks:
            agent_id = task["agent_id"]["value"]
            if task["state"] in SUMMARY_STATES:
                model[task["state"]] += 1
            if agent_id not in slave_ids:
                slave_ids.append(agent_id)
            summary = per_agent.get(agent_id)
            if summary is not None:
                if task["state"] in SUMMARY_STATES:
                    summary[task["state"]] += 1
                if framework.id not in summary["framework_ids"]:
                    summary["framework_ids"].append(framework.id)
        model["slave_ids"] = slave_ids
        models.append(model)
    return models, per_agent


def new_task(task_info: dict, framework_id: str, agent_id: str, role: str, user: str | None) -> dict:
    """protobuf::createTask: the master's Task for a TaskInfo, TASK_STAGING, no statuses yet."""
    task: dict[str, Any] = {
        "name": task_info.get("name", ""),
        "task_id": task_info["task_id"],
        "framework_id": {"value": framework_id},
        "agent_id": {"value": agent_id},
        "state": "TASK_STAGING",
        "resources": [{**r, "allocation_info": {"role": role}} for r in task_info.get("resources", [])],
        "statuses": [],
    }
    if "executor" in task_info:
        task["executor_id"] = task_info["executor"].get("executor_id")
    for key in ("labels", "discovery", "container", "health_check", "check", "kill_policy", "limits"):
        if key in task_info:
            task[key] = task_info[key]
    if user:
        task["user"] = user
    return task


def task_v0(task: dict) -> dict:
    # json(JSON::ObjectWriter*, const Task&) in src/common/http.cpp.
    resources = task.get("resources", [])
    model: dict[str, Any] = {
        "id": task["task_id"]["value"],
        "name": task.get("name", ""),
        "framework_id": task["framework_id"]["value"],
        "executor_id": task.get("executor_id", {}).get("value", ""),
        "slave_id": task["agent_id"]["value"],
        "state": task["state"],
        "resources": resources_v0([r for r in resources if "scalar" in r or "ranges" in r or "set" in r]),
        "role": resources[0].get("allocation_info", {}).get("role", "*") if resources else "*",
        "statuses": [status_v0(s) for s in task.get("statuses", [])],
    }
    if "user" in task:
        model["user"] = task["user"]
    if "labels" in task:
        model["labels"] = task["labels"].get("labels", [])
    for key in ("discovery", "container", "health_check"):
        if key in task:
            model[key] = task[key]
    return model


def status_v0(status: dict) -> dict:
    # json(JSON::ObjectWriter*, const TaskStatus&) in src/common/http.cpp.
    model: dict[str, Any] = {"state": status["state"], "timestamp": status.get("timestamp", 0.0)}
    if "labels" in status:
        model["labels"] = status["labels"].get("labels", [])
    if "container_status" in status:
        model["container_status"] = status["container_status"]
    if "healthy" in status:
        model["healthy"] = status["healthy"]
    return model


def offer_v0(offer: dict) -> dict:
    # json(JSON::ObjectWriter*, const Offer&) in src/common/http.cpp.
    return {
        "id": offer["id"]["value"],
        "framework_id": offer["framework_id"]["value"],
        "allocation_info": offer["allocation_info"],
        "slave_id": offer["agent_id"]["value"],
        "resources": resources_v0(offer["resources"]),
    }
