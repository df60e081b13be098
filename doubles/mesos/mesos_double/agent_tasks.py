"""The agent's task side of the Mesos PROTOCOL DOUBLE: frameworks, executors, tasks, updates.

Follows src/slave/slave.cpp (runTask, getExecutorInfo with the command executor's overhead of
0.1 cpus and 32 MB, killTask and killPendingTask, shutdownFramework, statusUpdate/_statusUpdate
(uuid, source, executor_id, container_status with the ContainerID and the agent's IP when the
executor gave none), forward (latest_state), statusUpdateAcknowledgement, executorLaunched /
sendExecutorTerminatedStatusUpdate (REASON_CONTAINER_LAUNCH_FAILED), Executor::updateTaskState
and the task metrics, removeExecutor / removeFramework, recover and the ReregisterSlaveMessage
with tasks and frameworks), src/slave/paths.cpp (the checkpoint layout under
``<work_dir>/meta`` and the sandbox under ``<work_dir>/slaves``), src/slave/state.cpp
(recovery of checkpointed frameworks only) and src/slave/http.cpp / src/common/http.cpp (the
``frameworks`` and ``completed_frameworks`` of ``/state``). The master is reached through the
double's channel (channel.py); checkpoints are JSON, not protobuf.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import containerizer as dc
from .common import TERMINAL_TASK_STATES
from .docker_engine import DockerEngine, EngineError
from .executor import DockerExecutor
from .resources import resources_v0
from .status_updates import AckError, StatusUpdateManager

DEFAULT_EXECUTOR_CPUS = 0.1  # src/slave/constants.hpp
DEFAULT_EXECUTOR_MEM = 32.0
MAX_COMPLETED_FRAMEWORKS = 50
# The double's orphan scope (see containerizer.orphans): "work_dir" (default) or "host"
# (upstream: every `mesos-<uuid>` container of the engine). Not a Mesos flag.
ORPHAN_SCOPE_ENV = "MESOS_DOUBLE_ORPHAN_SCOPE"


def _labels_v0(labels: dict | None) -> list:
    return list((labels or {}).get("labels", []))


def _write(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, sort_keys=True)
    os.replace(tmp, path)


def _read(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def executor_name(task: dict) -> str:
    # Slave::getExecutorInfo: "Command Executor (Task: <id>) (Command: ...)".
    command = task.get("command") or {}
    name = f"(Task: {task['task_id']['value']}) "
    if command.get("shell", True):
        if "value" not in command:
            name += "(Command: NO COMMAND)"
        else:
            v = command["value"]
            name += f"(Command: sh -c '{v[:12]}...')" if len(v) > 15 else f"(Command: sh -c '{v}')"
    elif "value" not in command:
        name += "(Command: NO EXECUTABLE)"
    else:
        args = command["value"] + ", " + ", ".join(command.get("arguments", []))
        name += f"(Command: [{args[:12]}...])" if len(args) > 15 else f"(Command: [{args}])"
    return "Command Executor " + name


class Executor:
    def __init__(self, info: dict, container_id: str, directory: str, meta: str | None) -> None:
        self.info = info
        self.id = info["executor_id"]["value"]
        self.container_id = container_id
        self.directory = directory
        self.meta = meta  # runs/<container id> under meta, when checkpointing
        self.tasks: dict[str, dict] = {}  # launched and terminated tasks
        self.completed: list[dict] = []
        self.runner: DockerExecutor | None = None
        self.terminated = False  # the executor (container) is gone
        self.killed_before_launch = False

    def allocated(self) -> list[dict]:
        res = list(self.info.get("resources", []))
        for task in self.tasks.values():
            if task["state"] not in TERMINAL_TASK_STATES:
                res += task.get("resources", [])
        return res


class Framework:
    def __init__(self, info: dict) -> None:
        self.info = info
        self.id = info["id"]["value"]
        self.executors: dict[str, Executor] = {}
        self.completed_executors: list[Executor] = []
        self.terminating = False  # Framework::TERMINATING after a ShutdownFrameworkMessage

    @property
    def checkpoint(self) -> bool:
        return bool(self.info.get("checkpoint", False))


class TaskSide:
    def __init__(self, agent: Any, log: Callable[[str, str], None]) -> None:
        self.agent = agent
        self.flags = agent.flags
        self.log = log
        self.lock = threading.RLock()
        kinds = [k.strip() for k in self.flags["containerizers"].split(",") if k.strip()]
        self.containerizers = kinds
        self.engine = DockerEngine(self.flags["docker_socket"], self.flags["docker"]) if "docker" in kinds else None
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: list[Framework] = []
        self.updates = StatusUpdateManager(self._forward, lambda m: log(m, "I"))
        self.counters = dict.fromkeys(("finished", "failed", "killed", "lost", "gone"), 0.0)
        self.counters.update(valid_status_updates=0.0, invalid_status_updates=0.0, container_launch_errors=0.0)
        self.executors_terminated = 0.0

    # ---- paths (src/slave/paths.cpp) --------------------------------------------------------
    def _meta_framework(self, fid: str) -> str:
        return os.path.join(self.agent.meta_dir, "slaves", self.agent.agent_id, "frameworks", fid)

    def _sandbox(self, fid: str, eid: str, cid: str) -> str:
        return os.path.join(
            self.flags["work_dir"], "slaves", self.agent.agent_id, "frameworks", fid, "executors", eid, "runs", cid
        )

    # ---- runTask ----------------------------------------------------------------------------
    def run_task(self, msg: dict) -> tuple[int, dict]:
        info = dict(msg["framework"])
        task = dict(msg["task"])
        fid = info["id"]["value"]
        tid = task["task_id"]["value"]
        with self.lock:
            framework = self.frameworks.get(fid)
            if framework is None:
                framework = self.frameworks[fid] = Framework(info)
            elif framework.terminating:
                # Slave::run: "Ignoring running task ... because the framework is terminating"
                self.log(f"Ignoring running task {tid} of framework {fid} because the framework is terminating", "W")
                return 409, {"error": f"Framework {fid} is terminating"}
            else:
                framework.info = info
            eid = task.get("executor", {}).get("executor_id", {}).get("value") or tid
            if eid in framework.executors:
                return 409, {"error": f"Executor '{eid}' of framework {fid} is already running"}
            executor_info = self._executor_info(info, task)
            cid = str(uuid.uuid4())
            directory = self._sandbox(fid, eid, cid)
            os.makedirs(directory, exist_ok=True)
            meta = None
            if framework.checkpoint:
                fdir = self._meta_framework(fid)
                _write(os.path.join(fdir, "framework.info"), info)
                edir = os.path.join(fdir, "executors", eid)
                _write(os.path.join(edir, "executor.info"), executor_info)
                meta = os.path.join(edir, "runs", cid)
                os.makedirs(meta, exist_ok=True)
                latest = os.path.join(edir, "runs", "latest")
                if os.path.lexists(latest):
                    os.unlink(latest)
                os.symlink(meta, latest)
            executor = Executor(executor_info, cid, directory, meta)
            framework.executors[eid] = executor
            record = {
                k: task[k]
                for k in ("name", "task_id", "resources", "limits", "labels", "discovery", "container", "health_check")
                if k in task
            }
            record.update(
                framework_id=info["id"],
                executor_id={"value": eid},
                agent_id={"value": self.agent.agent_id},
                state="TASK_STAGING",
                statuses=[],
            )
            if "kill_policy" in task:
                record["kill_policy"] = task["kill_policy"]
            executor.tasks[tid] = record
            self._checkpoint_task(executor, record, task)
        threading.Thread(target=self._launch, args=(framework, executor, task), daemon=True).start()
        return 200, {}

    def _executor_info(self, framework: dict, task: dict) -> dict:
        if "executor" in task:
            return dict(task["executor"])
        resources = [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": DEFAULT_EXECUTOR_CPUS}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": DEFAULT_EXECUTOR_MEM}},
        ]
        role = next((r["allocation_info"]["role"] for r in task.get("resources", []) if "allocation_info" in r), None)
        if role is not None:
            for r in resources:
                r["allocation_info"] = {"role": role}
        info: dict[str, Any] = {
            "executor_id": {"value": task["task_id"]["value"]},
            "framework_id": framework["id"],
            "name": executor_name(task),
            "source": task["task_id"]["value"],
            "resources": resources,
            "command": {"shell": False, "value": "mesos-executor"},
        }
        for key in ("container", "labels", "discovery"):
            if key in task:
                info[key] = task[key]
        policy = task.get("kill_policy", {}).get("grace_period")
        if policy is not None:
            # getExecutorInfo: kill policy grace + MAX_REAP_INTERVAL (1 s) + 1 s.
            info["shutdown_grace_period"] = {"nanoseconds": int(policy.get("nanoseconds", 0)) + 2_000_000_000}
        return info

    def _checkpoint_task(self, executor: Executor, record: dict, task: dict | None = None) -> None:
        if executor.meta is None:
            return
        tdir = os.path.join(executor.meta, "tasks", record["task_id"]["value"])
        # task.info holds the Task as launched; its state comes back from task.updates and
        # status_update_state/uuid are set only by Slave::forward (a recovered task has none).
        saved = {k: v for k, v in record.items() if k not in ("status_update_state", "status_update_uuid")}
        saved["statuses"] = []
        if task is not None:
            saved["__task_info__"] = task
        else:
            try:
                saved["__task_info__"] = _read(os.path.join(tdir, "task.info")).get("__task_info__")
            except (OSError, ValueError):
                pass
        _write(os.path.join(tdir, "task.info"), saved)

    def _launch(self, framework: Framework, executor: Executor, task: dict) -> None:
        container = task.get("container") or {}
        ctype = container.get("type", "MESOS" if container else None)
        tid = task["task_id"]["value"]
        if ctype == "DOCKER" and self.engine is not None:
            image = (container.get("docker") or {}).get("image", "")
            error = dc.pull_image(self.engine, image, bool((container.get("docker") or {}).get("force_pull_image")))
            if executor.killed_before_launch:
                return
            if error is not None:
                # Slave::executorLaunched: the launch failure becomes the executor's pending
                # termination, reported by sendExecutorTerminatedStatusUpdate.
                self.counters["container_launch_errors"] += 1
                self._executor_terminated(
                    framework,
                    executor,
                    "TASK_FAILED",
                    "REASON_CONTAINER_LAUNCH_FAILED",
                    f"Failed to launch container: {error}",
                )
                return
            runner = DockerExecutor(
                self.engine,
                task,
                framework.info,
                dc.container_name(executor.container_id),
                executor.directory,
                self.flags["sandbox_directory"],
                self.flags["executor_shutdown_grace_period"].secs,
                bool(self.flags["cgroups_enable_cfs"]),
                lambda status: self.executor_update(framework.id, executor.id, status),
                self.log,
            )
            executor.runner = runner
            runner.launch()
            threading.Thread(target=self._reap, args=(framework, executor), daemon=True).start()
            return
        self.counters["container_launch_errors"] += 1
        if ctype in (None, "MESOS") and "mesos" in self.containerizers:
            # The double's mesos containerizer does not run tasks (doubles/README.md).
            message = "Failed to launch container: the Mesos protocol double's mesos containerizer runs no tasks"
            self._executor_terminated(framework, executor, "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", message)
        else:
            # No containerizer could create the container (LaunchResult::NOT_SUPPORTED): the
            # containerizer's wait() knows no such container.
            self.log(
                f"Container '{executor.container_id}' for executor '{executor.id}' of framework {framework.id} "
                f"failed to start: None of the enabled containerizers ({self.flags['containerizers']}) could "
                f"create a container for the provided TaskInfo/ExecutorInfo message (task {tid})",
                "E",
            )
            self._executor_terminated(
                framework,
                executor,
                "TASK_FAILED",
                "REASON_EXECUTOR_TERMINATED",
                "Abnormal executor termination: unknown container",
            )

    def _reap(self, framework: Framework, executor: Executor) -> None:
        runner = executor.runner
        assert runner is not None
        runner.done.wait()
        # The executor exits once its terminal update is handled; the container stays (exited)
        # for --docker_remove_delay before `docker rm` (DockerContainerizerProcess::remove).
        delay = self.flags["docker_remove_delay"].secs
        name = runner.name
        engine = runner.engine
        timer = threading.Timer(delay, lambda: engine.remove(name, force=True))
        timer.daemon = True
        timer.start()
        self._executor_terminated(framework, executor, None, None, None)

    def _executor_terminated(
        self, framework: Framework, executor: Executor, state: str | None, reason: str | None, message: str | None
    ) -> None:
        # Slave::executorTerminated: every task not yet terminal gets a SOURCE_AGENT update.
        with self.lock:
            executor.terminated = True
            self.executors_terminated += 1
            for tid, task in executor.tasks.items():
                if task["state"] in TERMINAL_TASK_STATES or framework.terminating:
                    continue
                status = {
                    "task_id": {"value": tid},
                    "state": state or "TASK_FAILED",
                    "reason": reason or "REASON_EXECUTOR_TERMINATED",
                    "message": message or "Executor terminated",
                }
                self.agent_update(framework.id, executor.id, status)
            self._maybe_remove(framework, executor)

    # ---- status updates (Slave::statusUpdate, _statusUpdate, __statusUpdate) ----------------------
    def executor_update(self, fid: str, eid: str, status: dict) -> None:
        self._status_update(fid, eid, dict(status), "SOURCE_EXECUTOR")

    def agent_update(self, fid: str, eid: str | None, status: dict) -> None:
        self._status_update(fid, eid, dict(status), "SOURCE_AGENT")

    def _status_update(self, fid: str, eid: str | None, status: dict, source: str) -> None:
        with self.lock:
            status["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
            status["source"] = source
            status["agent_id"] = {"value": self.agent.agent_id}
            status["timestamp"] = time.time()
            framework = self.frameworks.get(fid)
            executor = framework.executors.get(eid) if framework and eid else None
            if eid is not None:
                status["executor_id"] = {"value": eid}
            if framework is None or framework.terminating:
                self.counters["invalid_status_updates"] += 1
                what = "unknown" if framework is None else "terminating"
                self.log(f"Ignoring status update {status['state']} for {what} framework {fid}", "W")
                return
            self.counters["valid_status_updates"] += 1
            path = None
            if executor is not None:
                if source == "SOURCE_EXECUTOR":
                    cs = status.setdefault("container_status", {})
                    cs["container_id"] = {"value": executor.container_id}
                    if not cs.get("network_infos"):
                        cs["network_infos"] = [{"ip_addresses": [{"ip_address": self.agent.ip}]}]
                task = executor.tasks.get(status["task_id"]["value"])
                if task is not None:
                    self._update_task_state(task, status)
                    self._checkpoint_task(executor, task)
                if framework.checkpoint and executor.meta is not None:
                    path = os.path.join(executor.meta, "tasks", status["task_id"]["value"], "task.updates")
            self.log(
                f"Handling status update {status['state']} for task {status['task_id']['value']} of framework {fid}",
                "I",
            )
            self.updates.update({"framework_id": {"value": fid}, "status": status}, path)

    def _update_task_state(self, task: dict, status: dict) -> None:
        # Executor::updateTaskState: a repeated state replaces the last status.
        if task["state"] in TERMINAL_TASK_STATES:
            return
        statuses = task["statuses"]
        if statuses and statuses[-1]["state"] == status["state"]:
            statuses.pop()
        entry = {"state": status["state"], "timestamp": status["timestamp"]}
        for key in ("labels", "container_status", "healthy"):
            if key in status:
                entry[key] = status[key]
        statuses.append(entry)
        task["state"] = status["state"]
        if status["state"] in TERMINAL_TASK_STATES:
            short = status["state"][5:].lower()
            if short in self.counters:
                self.counters[short] += 1

    def _forward(self, update: dict) -> None:
        # Slave::forward: status_update_state/uuid on the task, latest_state in the update.
        status = update["status"]
        with self.lock:
            framework = self.frameworks.get(update["framework_id"]["value"])
            task = None
            if framework is not None:
                for executor in framework.executors.values():
                    task = executor.tasks.get(status["task_id"]["value"]) or task
            if task is not None:
                task["status_update_state"] = status["state"]
                task["status_update_uuid"] = status["uuid"]
                update = dict(update, latest_state=task["state"])
        self.agent.send_status_update(update)

    def acknowledge(self, msg: dict) -> tuple[int, dict]:
        fid = msg["framework_id"]["value"]
        tid = msg["task_id"]["value"]
        try:
            going_on = self.updates.acknowledge(fid, tid, msg["uuid"])
        except AckError as exc:
            self.log(f"Failed to handle status update acknowledgement for task {tid} of framework {fid}: {exc}", "E")
            return 404, {"error": str(exc)}
        with self.lock:
            framework = self.frameworks.get(fid)
            if framework is not None and not going_on:
                for executor in list(framework.executors.values()):
                    self._maybe_remove(framework, executor)
        return 200, {}

    def _maybe_remove(self, framework: Framework, executor: Executor) -> None:
        # removeExecutor once it terminated and its updates are acknowledged; removeFramework
        # once the framework has no executors left.
        if not executor.terminated:
            return
        if any(self.updates.pending(framework.id, tid) for tid in executor.tasks):
            return
        if framework.executors.get(executor.id) is not executor:
            return
        del framework.executors[executor.id]
        executor.completed = list(executor.tasks.values())
        framework.completed_executors.append(executor)
        framework.completed_executors = framework.completed_executors[
            -int(self.flags["max_completed_executors_per_framework"]) :
        ]
        if executor.meta is not None:
            try:
                with open(os.path.join(executor.meta, "executor.sentinel"), "w", encoding="utf-8"):
                    pass
            except OSError:
                pass
        self._maybe_remove_framework(framework)

    def _maybe_remove_framework(self, framework: Framework) -> None:
        if framework.executors or self.updates.has_streams(framework.id):
            return
        if self.frameworks.get(framework.id) is framework:
            del self.frameworks[framework.id]
            self.completed_frameworks = [*self.completed_frameworks, framework][-MAX_COMPLETED_FRAMEWORKS:]

    # ---- killTask / shutdownFramework ---------------------------------------------------------
    def kill_task(self, msg: dict) -> tuple[int, dict]:
        fid = msg["framework_id"]["value"]
        tid = msg["task_id"]["value"]
        with self.lock:
            framework = self.frameworks.get(fid)
            if framework is None:
                self.log(f"Ignoring kill task {tid} of framework {fid} because no such framework is running", "W")
                return 404, {"error": f"No framework {fid}"}
            if framework.terminating:
                self.log(f"Ignoring kill task {tid} of framework {fid} because the framework is terminating", "W")
                return 200, {}
            executor = next((e for e in framework.executors.values() if tid in e.tasks), None)
            if executor is not None and executor.terminated:
                # Slave::kill: "Ignoring kill task ... because the executor ... is terminated"
                self.log(f"Ignoring kill task {tid} because the executor '{executor.id}' is terminated", "W")
                return 200, {}
            if executor is None:
                # "Cannot kill task ... because no corresponding executor is running"
                partition_aware = any(
                    c.get("type") == "PARTITION_AWARE" for c in framework.info.get("capabilities", [])
                )
                self.agent_update(
                    fid,
                    None,
                    {
                        "task_id": {"value": tid},
                        "state": "TASK_DROPPED" if partition_aware else "TASK_LOST",
                        "message": "Cannot find executor",
                        "reason": "REASON_EXECUTOR_TERMINATED",
                    },
                )
                return 404, {"error": f"No executor for task {tid}"}
            if executor.runner is None:
                # Slave::killPendingTask / a queued task: killed before it reached the executor.
                executor.killed_before_launch = True
                self._executor_terminated(
                    framework,
                    executor,
                    "TASK_KILLED",
                    "REASON_TASK_KILLED_DURING_LAUNCH",
                    "Killed before delivery to the executor",
                )
                return 200, {}
            executor.runner.kill(msg.get("kill_policy"))
        return 200, {}

    def shutdown_framework(self, msg: dict) -> tuple[int, dict]:
        fid = msg["framework_id"]["value"]
        with self.lock:
            framework = self.frameworks.get(fid)
            if framework is None:
                return 404, {"error": f"No framework {fid}"}
            if framework.terminating:
                self.log(f"Ignoring shutdown framework {fid} because it is terminating", "W")
                return 200, {}
            # Slave::shutdownFramework: TERMINATING, then every executor is shut down; the
            # updates of a terminating framework are dropped (nobody could acknowledge them).
            self.log(f"Shutting down framework {fid}", "I")
            framework.terminating = True
            for executor in list(framework.executors.values()):
                if executor.runner is not None:
                    executor.runner.shutdown()
                elif not executor.terminated:
                    executor.killed_before_launch = True
                    self._executor_terminated(framework, executor, None, None, None)
        # removeFramework once the executors are gone: its status update streams end with it
        # (TaskStatusUpdateManager::cleanup) and it moves to the completed frameworks.
        threading.Thread(target=self._finish_shutdown, args=(framework,), daemon=True).start()
        return 200, {}

    def _finish_shutdown(self, framework: Framework) -> None:
        for executor in list(framework.executors.values()):
            if executor.runner is not None:
                executor.runner.done.wait(120)
        with self.lock:
            self.updates.cleanup(framework.id)
            for executor in list(framework.executors.values()):
                executor.terminated = True
                self._maybe_remove(framework, executor)
            self._maybe_remove_framework(framework)

    def reconcile(self, msg: dict) -> tuple[int, dict]:
        """The channel's reconcile_tasks (ReconcileTasksMessage, Slave::reregistered).

        Every task the master names that this agent does not know gets a terminal
        SOURCE_AGENT update, REASON_RECONCILIATION: TASK_DROPPED for partition-aware frameworks
        (from the message's optional ``framework``, else the agent's own FrameworkInfo),
        otherwise TASK_LOST. Known tasks need nothing. Answers the tasks it reconciled.
        """
        fid = msg["framework_id"]["value"]
        with self.lock:
            framework = self.frameworks.get(fid)
            info = msg.get("framework") or (framework.info if framework else {})
            aware = any(c.get("type") == "PARTITION_AWARE" for c in info.get("capabilities", []))
            known = {t for e in framework.executors.values() for t in e.tasks} if framework else set()
            unknown = [t for t in msg.get("tasks", []) if t["value"] not in known]
            for task_id in unknown:
                self.log(
                    f"Agent reconciling task {task_id['value']} of framework {fid}: task unknown to the agent", "W"
                )
                status = {
                    "task_id": task_id,
                    "state": "TASK_DROPPED" if aware else "TASK_LOST",
                    "message": "Reconciliation: task unknown to the agent",
                    "reason": "REASON_RECONCILIATION",
                    "source": "SOURCE_AGENT",
                    "agent_id": {"value": self.agent.agent_id},
                    "timestamp": time.time(),
                    "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
                }
                # "We can't use statusUpdate() here because it drops updates for unknown
                # frameworks": straight to the status update manager.
                self.updates.update({"framework_id": {"value": fid}, "status": status}, None)
        return 200, {"reconciled": unknown}

    # ---- re-registration: what the agent runs (ReregisterSlaveMessage) ------------------------------
    def registration_payload(self) -> dict:
        with self.lock:
            tasks, frameworks = [], []
            for framework in self.frameworks.values():
                frameworks.append(framework.info)
                for executor in framework.executors.values():
                    for task in executor.tasks.values():
                        tasks.append({k: v for k, v in task.items() if not k.startswith("__")})
            return {"tasks": tasks, "frameworks": frameworks}

    # ---- state and metrics (src/slave/http.cpp, src/common/http.cpp) ---------------------------
    def _task_v0(self, task: dict) -> dict:
        out: dict[str, Any] = {
            "id": task["task_id"]["value"],
            "name": task.get("name", ""),
            "framework_id": task["framework_id"]["value"],
            "executor_id": task["executor_id"]["value"],
            "slave_id": task["agent_id"]["value"],
            "state": task["state"],
            "resources": resources_v0(task.get("resources", [])),
            "role": (task.get("resources", [{}])[0].get("allocation_info") or {}).get("role", "*")
            if task.get("resources")
            else "*",
            "statuses": task["statuses"],
        }
        if "labels" in task:
            out["labels"] = _labels_v0(task["labels"])
        for key in ("discovery", "container", "health_check"):
            if key in task:
                out[key] = task[key]
        return out

    def _executor_v0(self, executor: Executor) -> dict:
        tasks = list(executor.tasks.values())
        out: dict[str, Any] = {
            "id": executor.id,
            "name": executor.info.get("name", ""),
            "source": executor.info.get("source", ""),
            "container": executor.container_id,
            "directory": executor.directory,
            "resources": resources_v0(executor.allocated()),
        }
        if executor.info.get("resources"):
            out["role"] = (executor.info["resources"][0].get("allocation_info") or {}).get("role", "*")
        if "labels" in executor.info:
            out["labels"] = _labels_v0(executor.info["labels"])
        live = [t for t in tasks if t["state"] not in TERMINAL_TASK_STATES]
        out["tasks"] = [self._task_v0(t) for t in live]
        out["queued_tasks"] = []
        out["completed_tasks"] = [self._task_v0(t) for t in executor.completed or [t for t in tasks if t not in live]]
        return out

    def _framework_v0(self, framework: Framework) -> dict:
        info = framework.info
        out: dict[str, Any] = {
            "id": framework.id,
            "name": info.get("name", ""),
            "user": info.get("user", ""),
            "failover_timeout": info.get("failover_timeout", 0.0),
            "checkpoint": framework.checkpoint,
            "hostname": info.get("hostname", ""),
        }
        if "principal" in info:
            out["principal"] = info["principal"]
        if any(c.get("type") == "MULTI_ROLE" for c in info.get("capabilities", [])):
            out["roles"] = info.get("roles", [])
        else:
            out["role"] = info.get("role", "*")
        out["executors"] = [self._executor_v0(e) for e in framework.executors.values()]
        out["completed_executors"] = [self._executor_v0(e) for e in framework.completed_executors]
        return out

    def state(self) -> dict:
        with self.lock:
            return {
                "frameworks": [self._framework_v0(f) for f in self.frameworks.values()],
                "completed_frameworks": [self._framework_v0(f) for f in self.completed_frameworks],
            }

    def metrics(self) -> dict:
        with self.lock:
            states: dict[str, float] = {}
            used: dict[str, float] = {}
            registering = running = 0.0
            for framework in self.frameworks.values():
                for executor in framework.executors.values():
                    if executor.terminated:
                        continue
                    if executor.runner is not None and executor.runner.inspected.is_set():
                        running += 1
                    else:
                        registering += 1
                    for task in executor.tasks.values():
                        states[task["state"]] = states.get(task["state"], 0.0) + 1
                    for res in executor.allocated():
                        if res.get("type") == "SCALAR" or "scalar" in res:
                            used[res["name"]] = used.get(res["name"], 0.0) + res["scalar"]["value"]
            m = {
                "slave/tasks_staging": states.get("TASK_STAGING", 0.0),
                "slave/tasks_starting": states.get("TASK_STARTING", 0.0),
                "slave/tasks_running": states.get("TASK_RUNNING", 0.0),
                "slave/tasks_killing": states.get("TASK_KILLING", 0.0),
                "slave/executors_registering": registering,
                "slave/executors_running": running,
                "slave/executors_terminating": 0.0,
                "slave/executors_terminated": self.executors_terminated,
                "slave/frameworks_active": float(len(self.frameworks)),
            }
            for short, value in self.counters.items():
                key = (
                    f"slave/tasks_{short}"
                    if short in ("finished", "failed", "killed", "lost", "gone")
                    else f"slave/{short}"
                )
                m[key] = value
            return {"metrics": m, "used": used}

    # ---- recovery (Slave::recover, DockerContainerizerProcess::recover) ------------------------
    def recover(self) -> None:
        """Recover checkpointed frameworks, re-attach their containers; kill orphans."""
        known: set[str] = set()
        recovered: list[tuple[Framework, Executor, dict, dict]] = []
        if self.agent.agent_id is not None:
            fbase = os.path.join(self.agent.meta_dir, "slaves", self.agent.agent_id, "frameworks")
            for fid in sorted(os.listdir(fbase)) if os.path.isdir(fbase) else []:
                try:
                    framework = Framework(_read(os.path.join(fbase, fid, "framework.info")))
                except (OSError, ValueError):
                    continue
                ebase = os.path.join(fbase, fid, "executors")
                for eid in sorted(os.listdir(ebase)) if os.path.isdir(ebase) else []:
                    executor = self._recover_executor(framework, os.path.join(ebase, eid), recovered)
                    if executor is not None:
                        framework.executors[eid] = executor
                        known.add(executor.container_id)
                if framework.executors:
                    self.frameworks[fid] = framework
        if self.engine is None:
            return
        cleanup = self.flags["recover"] == "cleanup"
        for framework, executor, record, task_info in recovered:
            self._reattach(framework, executor, record, task_info, cleanup)
        with self.lock:
            for framework in list(self.frameworks.values()):
                for executor in list(framework.executors.values()):
                    self._maybe_remove(framework, executor)
        if self.flags["docker_kill_orphans"]:
            self._kill_orphans(known)

    def _recover_executor(
        self, framework: Framework, edir: str, recovered: list[tuple[Framework, Executor, dict, dict]]
    ) -> Executor | None:
        # src/slave/state.cpp ExecutorState/RunState/TaskState::recover.
        latest = os.path.join(edir, "runs", "latest")
        if not os.path.islink(latest):
            return None
        meta = os.path.realpath(latest)
        cid = os.path.basename(meta)
        if os.path.exists(os.path.join(meta, "executor.sentinel")):
            return None  # "its latest run ... is completed"
        try:
            einfo = _read(os.path.join(edir, "executor.info"))
        except (OSError, ValueError):
            return None
        eid = os.path.basename(edir)
        executor = Executor(einfo, cid, self._sandbox(framework.id, eid, cid), meta)
        tbase = os.path.join(meta, "tasks")
        for tid in sorted(os.listdir(tbase)) if os.path.isdir(tbase) else []:
            try:
                record = _read(os.path.join(tbase, tid, "task.info"))
            except (OSError, ValueError):
                continue
            task_info = record.pop("__task_info__", None) or {}
            record.pop("status_update_state", None)  # Executor::recoverTask: not recovered
            record.pop("status_update_uuid", None)
            for update in self.updates.recover(framework.id, tid, os.path.join(tbase, tid, "task.updates")):
                self._update_task_state(record, update["status"])
            executor.tasks[tid] = record
            recovered.append((framework, executor, record, task_info))
        return executor

    def _kill_orphans(self, known: set[str]) -> None:
        assert self.engine is not None
        scope = None if os.environ.get(ORPHAN_SCOPE_ENV) == "host" else self.flags["work_dir"]
        try:
            found = dc.orphans(self.engine, known, scope)
        except (OSError, EngineError, ValueError, TypeError, AttributeError) as exc:
            # Upstream fails the recovery here; the double warns and goes on (an engine that
            # answers /_ping but not `docker ps` is only a test stand-in).
            self.log(f"Failed to list Docker containers for orphan cleanup: {exc!r}", "W")
            return
        for item in found:
            # __recover: docker->stop(container, --docker_stop_timeout, remove=true)
            self.log(f"Killing orphaned Docker container '{item['Name']}'", "I")
            try:
                self.engine.stop(item["Id"], int(self.flags["docker_stop_timeout"].secs))
                self.engine.remove(item["Id"], force=True)
            except (OSError, EngineError) as exc:
                self.log(f"Failed to kill orphaned Docker container '{item['Name']}': {exc}", "W")

    def _reattach(self, framework: Framework, executor: Executor, record: dict, task_info: dict, cleanup: bool) -> None:
        assert self.engine is not None
        name = dc.container_name(executor.container_id)
        if record["state"] in TERMINAL_TASK_STATES:
            executor.terminated = True
            return
        runner = DockerExecutor(
            self.engine,
            task_info or record,
            framework.info,
            name,
            executor.directory,
            self.flags["sandbox_directory"],
            self.flags["executor_shutdown_grace_period"].secs,
            bool(self.flags["cgroups_enable_cfs"]),
            lambda status: self.executor_update(framework.id, executor.id, status),
            self.log,
        )
        executor.runner = runner
        last_healthy = record["statuses"][-1].get("healthy") if record["statuses"] else None
        runner.attach(record["state"], last_healthy)
        threading.Thread(target=self._reap, args=(framework, executor), daemon=True).start()
        if cleanup:
            # --recover=cleanup: Slave::_recover shuts every recovered executor down.
            runner.shutdown()
