"""The docker executor of the Mesos PROTOCOL DOUBLE (one task in one real Docker container).

Follows src/docker/executor.cpp (DockerExecutorProcess: TASK_STARTING, ``docker run``, TASK_RUNNING
once ``docker inspect`` answers with the container's IP in container_status.network_infos and
the inspect output as ``data``, TASK_KILLING (frameworks with the TASK_KILLING_STATE capability),
``docker stop -t <grace>``, the terminal state from the exit status ("Container exited with
status N"), health checks started after inspect, healthy=false on a health-check kill), and
src/launcher/docker_executor.cpp (the shutdown grace period). Upstream runs this as the
mesos-docker-executor process next to the agent; the double runs it on threads inside the agent
process. After an agent restart the recovered agent re-attaches a new executor object to the
still running container (``attach``), as the real executor would have reconnected.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from . import health
from .containerizer import DOCKER_RUN_ERROR_STATUS, RunOptionsError, run_command_line, run_options
from .docker_engine import DockerEngine, EngineError

DOCKER_INSPECT_DELAY = 1.0  # src/slave/constants.hpp
DOCKER_INSPECT_TIMEOUT = 5.0
KILL_RETRY_INTERVAL = 5.0  # src/docker/executor.hpp
INSPECT_ATTEMPTS = 60


class DockerExecutor:
    def __init__(  # noqa: PLR0917 - the arguments of DockerExecutorProcess's constructor
        self,
        engine: DockerEngine,
        task: dict,
        framework: dict,
        name: str,
        sandbox: str,
        mapped_directory: str,
        shutdown_grace: float,
        enable_cfs: bool,
        send: Callable[[dict], None],
        log: Callable[[str, str], None],
    ) -> None:
        self.engine = engine
        self.task = task
        self.task_id = task["task_id"]["value"]
        self.framework = framework
        self.name = name
        self.sandbox = sandbox
        self.mapped_directory = mapped_directory
        self.shutdown_grace = shutdown_grace
        self.enable_cfs = enable_cfs
        self.send = send  # ExecutorDriver::sendStatusUpdate
        self.log = log
        self.lock = threading.Lock()
        self.killed = False
        self.terminated = False
        self.killed_by_health_check = False
        self.inspected = threading.Event()  # the `inspect` future of upstream
        self.pid: int | None = None
        self.network_info: dict | None = None
        self.checker: health.HealthChecker | None = None
        self.kill_policy = task.get("kill_policy")
        self.done = threading.Event()

    # ---- launchTask -------------------------------------------------------------------------
    def launch(self) -> None:
        threading.Thread(target=self._launch, name=f"executor-{self.task_id}", daemon=True).start()

    def _status(self, state: str, **extra: Any) -> dict:
        return {"task_id": {"value": self.task_id}, "state": state, **extra}

    def _launch(self) -> None:
        self.send(self._status("TASK_STARTING"))
        try:
            config = run_options(self.task, self.name, self.sandbox, self.mapped_directory, self.enable_cfs)
        except RunOptionsError as exc:
            self.terminated = True
            self.send(self._status("TASK_FAILED", message=f"Failed to create docker run options: {exc}"))
            self.inspected.set()
            self.done.set()
            return
        cli_error = config.pop("__cli_error__", None)
        self.log(f"Running {run_command_line(self.engine, self.name, config)}", "I")
        error = cli_error
        if error is None:
            try:
                self.engine.create(self.name, config)
                self.engine.start(self.name)
            except EngineError as exc:
                error = f"docker: Error response from daemon: {exc.message}."
            except OSError as exc:
                error = f"docker: Cannot connect to the Docker daemon at {self.engine.host}: {exc}"
        if error is not None:
            # `docker run` printed the error to the executor's stderr (the sandbox) and exited 125.
            self._append("stderr", error + "\n")
            self.inspected.set()
            self._reaped(DOCKER_RUN_ERROR_STATUS)
            return
        threading.Thread(target=self._follow_logs, daemon=True).start()
        self._after_start(send_running=True, initializing=True)

    def attach(self, last_state: str, last_healthy: bool | None) -> None:
        """Re-attach to the container of a recovered task (the executor reconnecting)."""

        def run() -> None:
            info = self._inspect_once()
            if info is None:
                self.inspected.set()
                self._reaped(None)
                return
            threading.Thread(target=self._follow_logs, kwargs={"since": int(time.time())}, daemon=True).start()
            self._after_start(send_running=last_state != "TASK_RUNNING", initializing=last_healthy is not True)

        threading.Thread(target=run, name=f"executor-{self.task_id}", daemon=True).start()

    def _inspect_once(self) -> dict | None:
        try:
            return self.engine.inspect(self.name)
        except (OSError, EngineError):
            return None

    def _after_start(self, send_running: bool, initializing: bool) -> None:
        # The inspect loop: retried every DOCKER_INSPECT_DELAY until the container shows up (the
        # double gives up after INSPECT_ATTEMPTS: a container removed behind its back).
        info = None
        for _attempt in range(INSPECT_ATTEMPTS):
            info = self._inspect_once()
            if info is not None:
                break
            time.sleep(DOCKER_INSPECT_DELAY)
        if info is None:
            self.inspected.set()
            self._reaped(None)
            return
        with self.lock:
            if not self.killed:
                pid = (info.get("State") or {}).get("Pid") or None
                self.pid = pid
                ip = (info.get("NetworkSettings") or {}).get("IPAddress") or ""
                status = self._status("TASK_RUNNING", data=base64.b64encode(json.dumps([info]).encode()).decode())
                if ip:
                    networks = (self.task.get("container") or {}).get("network_infos") or []
                    network_info = dict(networks[0]) if networks else {}
                    network_info["ip_addresses"] = [{"ip_address": ip}]
                    self.network_info = network_info
                    status["container_status"] = {"network_infos": [network_info]}
                if send_running:
                    self.send(status)
        self.inspected.set()
        self._launch_health_check(initializing)
        try:
            code: int | None = self.engine.wait(self.name)
        except (OSError, EngineError) as exc:
            self.log(f"Failed to wait for container '{self.name}': {exc}", "E")
            code = None
        self._reaped(code)

    def _launch_health_check(self, initializing: bool) -> None:
        check = self.task.get("health_check")
        if self.killed or not check:
            return
        error = health.validate(check)
        if error is not None:
            # "TODO(gilbert): Consider ABORT and return a TASK_FAILED here."
            self.log(f"Failed to create health checker: {error}", "E")
            return
        self.checker = health.HealthChecker(
            check,
            self.task_id,
            self.name,
            self.engine,
            lambda: self.pid,
            self._health_updated,
            lambda msg: self.log(msg, "I"),
            initializing=initializing,
        )
        self.checker.start()

    def _health_updated(self, healthy: bool, _failures: int, kill_task: bool) -> None:
        # DockerExecutorProcess::taskHealthUpdated
        if self.killed or self.terminated:
            return
        self.log(f"Received task health update, healthy: {str(healthy).lower()}", "I")
        status = self._status("TASK_RUNNING", healthy=healthy, reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
        if self.network_info is not None:
            status["container_status"] = {"network_infos": [self.network_info]}
        self.send(status)
        if kill_task:
            self.killed_by_health_check = True
            self.kill(None)

    # ---- killTask / shutdown ------------------------------------------------------------------
    def grace_for(self, override: dict | None) -> float:
        # killTask: an override's grace period, else the task's KillPolicy, else the executor
        # shutdown grace period (--executor_shutdown_grace_period, 5 s by default).
        for policy in (override, self.kill_policy):
            if policy and "grace_period" in policy:
                return int(policy["grace_period"].get("nanoseconds", 0)) / 1e9
        return self.shutdown_grace

    def kill(self, override: dict | None, grace: float | None = None) -> None:
        if self.terminated:
            return
        period = self.grace_for(override) if grace is None else grace
        self.log(f"Received killTask for task {self.task_id} (grace period {period}s)", "I")
        threading.Thread(target=self._kill, args=(period,), daemon=True).start()

    def shutdown(self) -> None:
        # DockerExecutorProcess::shutdown: the shutdown grace period minus MAX_REAP_INTERVAL (1 s)
        # and 1 s; the agent set that period to the kill policy's grace + 2 s when there is one
        # (Slave::getExecutorInfo), so it comes down to the kill policy, or 3 s by default.
        if self.kill_policy and "grace_period" in self.kill_policy:
            grace = self.grace_for(None)
        else:
            grace = max(self.shutdown_grace - 2.0, 0.0)
        self.kill(None, grace)

    def _kill(self, grace: float) -> None:
        # "We have to issue the kill after 'docker inspect' has completed."
        self.inspected.wait(DOCKER_INSPECT_TIMEOUT + 60)
        while True:
            with self.lock:
                if self.terminated:
                    return
                if not self.killed:
                    self.killed = True
                    capabilities = [c.get("type") for c in self.framework.get("capabilities", [])]
                    if "TASK_KILLING_STATE" in capabilities:
                        self.send(self._status("TASK_KILLING"))
                    if self.checker is not None:
                        self.checker.pause()
            try:
                # Docker::stop: `docker stop -t <(int) grace.secs()>`.
                self.engine.stop(self.name, int(grace))
                return
            except (OSError, EngineError) as exc:
                self.log(f"Failed to stop container '{self.name}': {exc}", "E")
                if not self.killed_by_health_check:
                    return
                time.sleep(KILL_RETRY_INTERVAL)  # "Retrying to kill task"

    # ---- reaped -------------------------------------------------------------------------------
    def _reaped(self, code: int | None) -> None:
        with self.lock:
            if self.terminated:
                return
            self.terminated = True
            if self.checker is not None:
                self.checker.pause()
            if code is None:
                state, message = "TASK_FAILED", "Failed to get exit status of container"
            else:
                if self.killed:
                    state = "TASK_KILLED"
                elif code == 0:
                    state = "TASK_FINISHED"
                else:
                    state = "TASK_FAILED"
                # WSTRINGIFY of the `docker run` exit status.
                message = f"Container exited with status {code}"
            status = self._status(state, message=message)
            if self.killed and self.killed_by_health_check:
                status["healthy"] = False
        self.log(message, "I")
        self.send(status)
        self.done.set()

    # ---- sandbox stdout/stderr (the `docker run` output the executor writes there) --------------
    def _append(self, stream: str, text: str) -> None:
        try:
            with open(os.path.join(self.sandbox, stream), "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            pass

    def _follow_logs(self, since: int = 0) -> None:
        # `docker run` in the foreground writes the task's output to the executor's stdout and
        # stderr, which are the sandbox's files: follow the container's log stream into them.
        query = {"follow": "1", "stdout": "1", "stderr": "1"}
        if since:
            query["since"] = str(since)
        try:
            conn, resp = self.engine.stream(f"/containers/{self.name}/logs", query)
        except OSError:
            return
        try:
            if resp.status != 200:
                return
            while True:
                # The multiplexed stream: an 8-byte header (stream type, size) before each frame.
                header = resp.read(8)
                if len(header) < 8:
                    return
                kind, size = struct.unpack(">BxxxL", header)
                frame = resp.read(size)
                self._append("stderr" if kind == 2 else "stdout", frame.decode("utf-8", "replace"))
        except OSError:
            return
        finally:
            conn.close()
