"""Task health checks of the Mesos PROTOCOL DOUBLE, as the docker executor runs them.

Follows docs/health-checks.md, src/checks/health_checker.cpp (HealthChecker: grace period,
consecutive failures, first healthy update, kill_task), src/checks/checker_process.cpp
(CheckerProcess: delay, interval, timeout where 0 means none; the Docker runtime: COMMAND checks
wrapped in ``docker exec <container> sh -c <value>``, HTTP and TCP checks run from the task's
network namespace against 127.0.0.1, HTTP following redirects like ``curl -L`` and 200-399
meaning success) and src/common/validation.cpp validateHealthCheck (error texts). The double
enters the container's network namespace with setns(2) on a short-lived thread instead of
forking curl or mesos-tcp-connect.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from .docker_engine import DockerEngine

CLONE_NEWNET = 0x40000000
# include/mesos/v1/mesos.proto HealthCheck defaults.
DEFAULTS = {
    "delay_seconds": 15.0,
    "interval_seconds": 10.0,
    "timeout_seconds": 20.0,
    "consecutive_failures": 3,
    "grace_period_seconds": 10.0,
}
MAX_REDIRECTS = 50  # curl's default for -L


def validate(check: dict) -> str | None:  # noqa: PLR0911, PLR0912 - one return per error of validateHealthCheck
    """src/common/validation.cpp validateHealthCheck: None, or the error text."""
    kind = check.get("type")
    if not kind:
        return "HealthCheck must specify 'type'"
    if kind == "COMMAND":
        command = check.get("command")
        if command is None:
            return "Expecting 'command' to be set for COMMAND health check"
        if "value" not in command:
            what = "'shell command'" if command.get("shell", True) else "'executable path'"
            return f"Command health check must contain {what}"
    elif kind == "HTTP":
        http = check.get("http")
        if http is None:
            return "Expecting 'http' to be set for HTTP health check"
        if "scheme" in http and http["scheme"] not in ("http", "https"):
            return f"Unsupported HTTP health check scheme: '{http['scheme']}'"
        if "path" in http and not str(http["path"]).startswith("/"):
            return f"The path '{http['path']}' of HTTP health check must start with '/'"
    elif kind == "TCP":
        if check.get("tcp") is None:
            return "Expecting 'tcp' to be set for TCP health check"
    else:
        return f"'{kind}' is not a valid health check type"
    for field in ("delay_seconds", "grace_period_seconds", "interval_seconds", "timeout_seconds"):
        if field in check and float(check[field]) < 0.0:
            return f"Expecting '{field}' to be non-negative"
    return None


def in_netns(pid: int, fn: Callable[[], Any], timeout: float | None) -> Any:
    """Run ``fn`` on a fresh thread that joined the network namespace of process ``pid``."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into the network namespace of {pid}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{pid}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError("timed out")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def http_status(url: str, timeout: float | None) -> int:
    """`curl -s -S -L -k -w %{http_code} -o /dev/null -g <url>`: the last response's status."""
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "127.0.0.1",
                parts.port,
                timeout=timeout,
                context=ssl._create_unverified_context(),  # noqa: S323 - `curl -k`, as upstream
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path, headers={"User-Agent": "curl/7.88.1", "Accept": "*/*"})
            resp = conn.getresponse()
            resp.read()
            location = resp.getheader("Location")
            if 300 <= resp.status < 400 and location:
                url = urllib.parse.urljoin(url, location)
                continue
            return resp.status
        finally:
            conn.close()
    raise OSError(f"Maximum ({MAX_REDIRECTS}) redirects followed")


class HealthChecker:
    """One task's health checker (checks::HealthChecker over a CheckerProcess)."""

    def __init__(  # noqa: PLR0917 - HealthChecker::create's arguments
        self,
        check: dict,
        task_id: str,
        container: str,
        engine: DockerEngine,
        pid: Callable[[], int | None],
        callback: Callable[[bool, int, bool], None],
        log: Callable[[str], None],
        initializing: bool = True,
    ) -> None:
        self.check = {**DEFAULTS, **check}
        self.task_id = task_id
        self.container = container
        self.engine = engine
        self.pid = pid
        self.callback = callback  # (healthy, consecutive_failures, kill_task)
        self.log = log
        self.name = f"{check.get('type')} health check"
        self.start_time = time.monotonic()
        self.consecutive_failures = 0
        self.initializing = initializing
        self.paused = threading.Event()
        timeout = float(self.check["timeout_seconds"])
        self.timeout = timeout if timeout > 0 else None  # "Zero value means infinite timeout."

    def start(self) -> None:
        threading.Thread(target=self._loop, name=f"health-{self.task_id}", daemon=True).start()

    def pause(self) -> None:
        self.paused.set()

    def _loop(self) -> None:
        # CheckerProcess::initialize: scheduleNext(checkDelay), then every checkInterval.
        if self.paused.wait(float(self.check["delay_seconds"])):
            return
        while not self.paused.is_set():
            try:
                self.perform()
                ok, error = True, ""
            except Exception as exc:
                ok, error = False, str(exc) or type(exc).__name__
            if self.paused.is_set():
                self.log(f"Ignoring {self.name} result for task '{self.task_id}': checking is paused")
                return
            if ok:
                self.success()
            else:
                self.log(f"{self.name} for task '{self.task_id}' failed: {error}")
                self.failure()
            if self.paused.wait(float(self.check["interval_seconds"])):
                return

    def perform(self) -> None:
        kind = self.check["type"]
        if kind == "COMMAND":
            command = self.check["command"]
            if command.get("shell", True):
                argv = ["sh", "-c", command["value"]]
            else:
                argv = [command["value"], *command.get("arguments", [])] if "value" in command else []
            env = [f"{v['name']}={v.get('value', '')}" for v in (command.get("environment") or {}).get("variables", [])]
            try:
                code = self.engine.exec_run(self.container, argv, env, self.timeout)
            except TimeoutError:
                raise OSError(f"Command timed out after {self.timeout}secs") from None
            if code != 0:
                raise OSError(f"Command exited with status {code}")
            return
        pid = self.pid()
        if pid is None:
            raise OSError("the task's container has no process")
        if kind == "HTTP":
            http = self.check["http"]
            domain = "[::1]" if http.get("protocol") == "IPv6" else "127.0.0.1"
            url = f"{http.get('scheme', 'http')}://{domain}:{int(http['port'])}{http.get('path', '')}"
            try:
                status = in_netns(pid, lambda: http_status(url, self.timeout), self.timeout)
            except TimeoutError:
                raise OSError(f"curl timed out after {self.timeout}secs") from None
            if status < 200 or status >= 400:
                raise OSError(f"Unexpected HTTP response code: {status}")
        elif kind == "TCP":
            tcp = self.check["tcp"]
            family = socket.AF_INET6 if tcp.get("protocol") == "IPv6" else socket.AF_INET
            address = ("::1" if family == socket.AF_INET6 else "127.0.0.1", int(tcp["port"]))

            def connect() -> None:
                with socket.socket(family, socket.SOCK_STREAM) as sock:
                    sock.settimeout(self.timeout)
                    sock.connect(address)

            try:
                in_netns(pid, connect, self.timeout)
            except OSError:
                raise OSError("TCP connection failed") from None

    # ---- src/checks/health_checker.cpp -----------------------------------------------------
    def failure(self) -> None:
        grace = float(self.check["grace_period_seconds"])
        if self.initializing and grace > 0 and time.monotonic() - self.start_time <= grace:
            self.log(f"Ignoring failure of {self.name} for task '{self.task_id}': still in grace period")
            return
        self.consecutive_failures += 1
        self.log(f"{self.name} for task '{self.task_id}' failed {self.consecutive_failures} times consecutively")
        kill = self.consecutive_failures >= int(self.check["consecutive_failures"])
        self.callback(False, self.consecutive_failures, kill)

    def success(self) -> None:
        # "Send a healthy status update on the first success, and on the first success
        # following failure(s)."
        if self.initializing or self.consecutive_failures > 0:
            self.callback(True, 0, False)
            self.initializing = False
        self.consecutive_failures = 0
