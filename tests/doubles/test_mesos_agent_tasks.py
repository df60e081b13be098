"""The Mesos double's agent runs tasks as REAL Docker containers (issue 16).

Each test starts the real agent double process on this host, talking to the host's real Docker
engine. The master side of the double's channel (doubles/mesos/mesos_double/channel.py) is a
small recorder HTTP server in this file: it answers the agent's ``register``/``ping`` calls,
records every ``status_update`` and ``register`` payload, and drives the agent with the
channel's master->agent messages (``run_task``, ``kill_task``, ``shutdown_framework``,
``acknowledge``). Assertions read the real containers: ``docker inspect``, the cgroup v1 files
of the container's processes (cpu.shares, cpu.cfs_quota_us, memory.limit_in_bytes), HTTP
through the mapped ports. Every container a test starts carries the docker label
``orchestrator-platform.test-run=<run id>`` (a docker parameter, as a framework would pass
it), and the fixture removes exactly the labelled containers afterwards. The agents' orphan
cleanup only considers containers whose sandbox lies under their own --work_dir (the double's
default scope, see containerizer.orphans), so it never touches another engineer's ``mesos-``
containers on this shared engine. Waits are event driven with generous deadlines.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support import waiting
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "doubles" / "mesos" / "mesos_double"
PYTHON = os.environ.get("DOUBLE_PYTHON") or sys.executable
IMAGE = "orchestrator-platform/task-busybox:1"
RUN_ID = uuid.uuid4().hex[:12]
LABEL_KEY = "orchestrator-platform.test-run"
LABEL = f"{LABEL_KEY}={RUN_ID}"
CHANNEL = "/__double__"

wait_for = functools.partial(waiting.wait_for, retry_on=(OSError, ValueError, KeyError))


def docker(*args: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr}")
    return res.stdout


def inspect(name: str) -> dict | None:
    out = docker("inspect", name, check=False)
    found = json.loads(out) if out.strip().startswith("[") else []
    return found[0] if found else None


@pytest.fixture(scope="module")
def task_image() -> str:
    builder = REPO / "tools" / "build-task-image"
    if builder.exists():
        res = subprocess.run([str(builder)], capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, f"tools/build-task-image failed:\n{res.stdout}\n{res.stderr}"
    assert inspect(IMAGE) is not None or docker("image", "inspect", IMAGE, check=False), (
        f"the task image {IMAGE} is missing and tools/build-task-image does not exist to build it"
    )
    return IMAGE


@pytest.fixture(autouse=True)
def cleanup_containers() -> Iterator[None]:
    yield
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").split()
    if ids:
        docker("rm", "-f", *ids, check=False)


# ------------------------------------------------------------------------------------------
# the master side of the channel
# ------------------------------------------------------------------------------------------


class Recorder:
    """A stand-in for the leading master on the double's channel."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.updates: list[dict] = []
        self.registrations: list[dict] = []
        self.acked: set[str] = set()
        self.next_id = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                action = self.path.rsplit("/", 1)[-1]
                answer: dict = {}
                with recorder.lock:
                    if action == "register":
                        recorder.registrations.append(body)
                        agent_id = (body["info"].get("id") or {}).get("value")
                        if agent_id is None:
                            recorder.next_id += 1
                            agent_id = f"REC-{RUN_ID}-S{recorder.next_id}"
                        answer = {"id": agent_id, "master_id": "REC"}
                    elif action == "status_update":
                        recorder.updates.append(body["update"])
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def statuses(self, task_id: str) -> list[dict]:
        with self.lock:
            return [u["status"] for u in self.updates if u["status"]["task_id"]["value"] == task_id]

    def wait_state(self, task_id: str, state: str, timeout: float = 60, **match: Any) -> dict:
        def found() -> dict | None:
            for s in self.statuses(task_id):
                if s["state"] == state and all(s.get(k) == v for k, v in match.items()):
                    return s
            return None

        def details() -> str:
            return str([(s["state"], s.get("healthy"), s.get("message")) for s in self.statuses(task_id)])

        return wait_for(found, timeout, f"{state} {match} for {task_id}", details=details)


class Agent:
    def __init__(self, recorder: Recorder, work_dir: Path, *extra: str, port: int | None = None) -> None:
        self.recorder = recorder
        self.port = port or free_port()
        self.work_dir = work_dir
        self.acked = recorder.acked  # shared by the agent processes of one test
        self.args = [
            f"--port={self.port}",
            "--ip=127.0.0.1",
            "--hostname=127.0.0.1",
            f"--master=127.0.0.1:{recorder.port}",
            f"--work_dir={work_dir}",
            "--resources=cpus:2;mem:1024;disk:2048;ports:[31000-32000]",
            *([] if any(e.startswith("--containerizers=") for e in extra) else ["--containerizers=docker,mesos"]),
            *extra,
        ]
        self.log = tempfile.NamedTemporaryFile(prefix="mesos-agent-tasks-", suffix=".log", delete=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        self.popen = subprocess.Popen(
            [PYTHON, str(DOUBLE), "agent", *self.args], stdout=self.log, stderr=self.log, env=env
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def get(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return json.loads(resp.read())
        finally:
            conn.close()

    def registered(self, timeout: float = 30) -> str:
        def up() -> str:
            if self.popen.poll() is not None:
                raise AssertionError(f"agent exited {self.popen.returncode}:\n{self.output()}")
            state = self.get("/state")
            return state["id"] if self.get("/metrics/snapshot")["slave/registered"] == 1.0 else ""

        return wait_for(up, timeout, "agent registration", details=self.output)

    def send(self, action: str, body: dict) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", f"{CHANNEL}/master/{action}", json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()

    def ack(self, status: dict, framework_id: str = "F1") -> None:
        code, body = self.send(
            "acknowledge",
            {"framework_id": {"value": framework_id}, "task_id": status["task_id"], "uuid": status["uuid"]},
        )
        assert code == 200, body
        self.acked.add(status["uuid"])

    def ack_through(
        self, task_id: str, state: str, timeout: float = 60, framework_id: str = "F1", **match: Any
    ) -> dict:
        """Acknowledge every update of the task, in order, until one in ``state`` (and ``match``)."""
        acked = self.acked
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for status in self.recorder.statuses(task_id):
                if status["uuid"] in acked:
                    continue
                self.ack(status, framework_id)
                acked.add(status["uuid"])
                if status["state"] == state and all(status.get(k) == v for k, v in match.items()):
                    return status
            time.sleep(0.05)  # the poll interval
        raise AssertionError(f"no {state} for {task_id}: {self.recorder.statuses(task_id)}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)

    def close(self) -> None:
        self.kill()
        os.unlink(self.log.name)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.server.shutdown()


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.close()


def run_task(
    agent_id: str,
    task_id: str,
    command: str,
    *,
    framework_id: str = "F1",
    checkpoint: bool = True,
    cpus: float = 0.5,
    mem: float = 64,
    image: str = IMAGE,
    network: str = "HOST",
    ports: list[int] | None = None,
    port_mappings: list[dict] | None = None,
    health_check: dict | None = None,
    kill_policy_secs: float | None = None,
    env: dict[str, str] | None = None,
    container_type: str | None = "DOCKER",
) -> dict:
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "allocation_info": {"role": "*"}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "allocation_info": {"role": "*"}},
    ]
    if ports:
        resources.append(
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": p, "end": p} for p in ports]},
                "allocation_info": {"role": "*"},
            }
        )
    task: dict[str, Any] = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": resources,
        "command": {
            "shell": True,
            "value": command,
            "environment": {"variables": [{"name": k, "value": v} for k, v in (env or {}).items()]},
        },
    }
    if container_type is not None:
        docker_info: dict[str, Any] = {
            "image": image,
            "network": network,
            "parameters": [{"key": "label", "value": LABEL}],
        }
        if port_mappings:
            docker_info["port_mappings"] = port_mappings
        task["container"] = {"type": container_type, "docker": docker_info}
    if health_check:
        task["health_check"] = health_check
    if kill_policy_secs is not None:
        task["kill_policy"] = {"grace_period": {"nanoseconds": int(kill_policy_secs * 1e9)}}
    framework = {
        "id": {"value": framework_id},
        "name": "agent-tasks-test",
        "user": "root",
        "checkpoint": checkpoint,
        "capabilities": [{"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}],
    }
    return {"master_id": "REC", "framework": framework, "task": task}


def cgroup_file(pid: int, controller: str, name: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _index, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return (Path("/sys/fs/cgroup") / controller / path.lstrip("/") / name).read_text().strip()
    raise AssertionError(f"no {controller} cgroup for {pid}")


def free_task_port() -> int:
    # A port of the agent's [31000-32000] range that nothing on the host listens on now.
    for port in range(31000 + os.getpid() % 900, 32000):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 31000-32000")


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------


def test_task_runs_in_a_real_container(
    task_image: str, recorder: Recorder, agents: list[Agent], tmp_path: Path
) -> None:
    agent = Agent(recorder, tmp_path / "w", "--cgroups_enable_cfs")
    agents.append(agent)
    agent_id = agent.registered()
    hport = free_task_port()
    msg = run_task(
        agent_id,
        "web",
        "echo started; exec httpd -f -p 8080 -h /mnt/mesos/sandbox",
        network="BRIDGE",
        ports=[hport],
        port_mappings=[{"host_port": hport, "container_port": 8080, "protocol": "tcp"}],
        env={"FOO": "bar"},
    )
    assert agent.send("run_task", msg) == (200, {})

    # One update on the wire per task: STARTING is retried (10 s) until acknowledged, and
    # RUNNING only follows the acknowledgement.
    starting = recorder.wait_state("web", "TASK_STARTING")
    assert starting["source"] == "SOURCE_EXECUTOR" and len(base64.b64decode(starting["uuid"])) == 16
    wait_for(lambda: len(recorder.statuses("web")) >= 2, 30, "the retried TASK_STARTING")
    assert [s["uuid"] for s in recorder.statuses("web")] == [starting["uuid"]] * 2
    agent.ack(starting)
    running = recorder.wait_state("web", "TASK_RUNNING")
    assert running["executor_id"] == {"value": "web"} and running["agent_id"] == {"value": agent_id}
    cid = running["container_status"]["container_id"]["value"]
    name = f"mesos-{cid}"
    info = inspect(name)
    assert info is not None and info["State"]["Running"]
    ip = info["NetworkSettings"]["IPAddress"]
    assert running["container_status"]["network_infos"][0]["ip_addresses"] == [{"ip_address": ip}]
    assert json.loads(base64.b64decode(running["data"]))[0]["Id"] == info["Id"]

    # Limits in the container's cgroups (cgroup v1 here), not only in docker inspect.
    pid = info["State"]["Pid"]
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"  # 0.5 * CPU_SHARES_PER_CPU
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"  # --cgroups_enable_cfs
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 * 1024 * 1024)
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["MESOS_SANDBOX"] == "/mnt/mesos/sandbox" and env["MESOS_CONTAINER_NAME"] == name
    assert env["FOO"] == "bar" and env["MESOS_ALLOCATION_ROLE"] == "*"
    assert info["HostConfig"]["NetworkMode"] == "bridge" and info["Config"]["Labels"][LABEL_KEY] == RUN_ID
    sandbox = tmp_path / "w" / "slaves" / agent_id / "frameworks" / "F1" / "executors" / "web" / "runs" / cid
    assert f"{sandbox}:/mnt/mesos/sandbox" in info["HostConfig"]["Binds"]
    (sandbox / "hello.txt").write_text("from the sandbox\n")

    # The mapped host port reaches httpd in the container; its output lands in the sandbox.
    def fetch() -> str:
        conn = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
        try:
            conn.request("GET", "/hello.txt")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    assert wait_for(fetch, 30, "httpd through the port mapping") == "from the sandbox\n"
    assert wait_for(lambda: "started" in (sandbox / "stdout").read_text(), 30, "stdout in the sandbox")

    # The agent's state and metrics count the task (plus the command executor's 0.1 cpus, 32 MB).
    state = agent.get("/slave(1)/state")
    executor = state["frameworks"][0]["executors"][0]
    assert executor["container"] == cid and executor["tasks"][0]["state"] == "TASK_RUNNING"
    assert executor["tasks"][0]["statuses"][-1]["state"] == "TASK_RUNNING"
    metrics = agent.get("/metrics/snapshot")
    assert metrics["slave/tasks_running"] == 1.0 and metrics["slave/executors_running"] == 1.0
    assert metrics["slave/cpus_used"] == pytest.approx(0.6) and metrics["slave/mem_used"] == pytest.approx(96)

    # Acknowledge RUNNING, kill with the default grace: KILLING, then KILLED (httpd exits on TERM).
    agent.ack(running)
    assert agent.send("kill_task", {"framework_id": {"value": "F1"}, "task_id": {"value": "web"}}) == (200, {})
    killing = recorder.wait_state("web", "TASK_KILLING")
    agent.ack(killing)
    killed = recorder.wait_state("web", "TASK_KILLED")
    assert killed["message"].startswith("Container exited with status")
    agent.ack(killed)
    wait_for(lambda: agent.get("/state")["completed_frameworks"], 30, "the framework completed")
    metrics = agent.get("/metrics/snapshot")
    assert metrics["slave/tasks_killed"] == 1.0 and metrics["slave/tasks_running"] == 0.0
    assert inspect(name) is not None and not inspect(name)["State"]["Running"]  # kept for --docker_remove_delay


def test_kill_grace_period_and_exit_states(
    task_image: str, recorder: Recorder, agents: list[Agent], tmp_path: Path
) -> None:
    agent = Agent(recorder, tmp_path / "w")
    agents.append(agent)
    agent_id = agent.registered()
    # PID 1 ignores SIGTERM without a handler: docker stop needs SIGKILL after the grace period.
    agent.send("run_task", run_task(agent_id, "stubborn", "exec sleep 1000", kill_policy_secs=3))
    agent.send("run_task", run_task(agent_id, "polite", "trap 'exit 3' TERM; while true; do sleep 0.2; done"))
    agent.send("run_task", run_task(agent_id, "done", "exit 0"))
    agent.send("run_task", run_task(agent_id, "broken", "exit 7"))
    for tid in ("stubborn", "polite"):
        agent.ack_through(tid, "TASK_RUNNING")
    finished = agent.ack_through("done", "TASK_FINISHED")
    assert finished["message"] == "Container exited with status 0" and finished["source"] == "SOURCE_EXECUTOR"
    failed = agent.ack_through("broken", "TASK_FAILED")
    assert failed["message"] == "Container exited with status 7"

    # Unknown task of a known framework: TASK_DROPPED (partition-aware) from the agent.
    code, _unused = agent.send("kill_task", {"framework_id": {"value": "F1"}, "task_id": {"value": "nope"}})
    dropped = recorder.wait_state("nope", "TASK_DROPPED")
    assert code == 404 and dropped["message"] == "Cannot find executor" and dropped["source"] == "SOURCE_AGENT"
    agent.ack_through("nope", "TASK_DROPPED")
    # reconcile_tasks: only the task the agent does not know gets a terminal update.
    code, body = agent.send(
        "reconcile_tasks", {"framework_id": {"value": "F1"}, "tasks": [{"value": "ghost"}, {"value": "stubborn"}]}
    )
    assert code == 200 and body == {"reconciled": [{"value": "ghost"}]}
    ghost = agent.ack_through("ghost", "TASK_DROPPED")
    assert (
        ghost["reason"] == "REASON_RECONCILIATION" and ghost["message"] == "Reconciliation: task unknown to the agent"
    )

    start = time.monotonic()
    agent.send("kill_task", {"framework_id": {"value": "F1"}, "task_id": {"value": "stubborn"}})
    agent.send(
        "kill_task",
        {
            "framework_id": {"value": "F1"},
            "task_id": {"value": "polite"},
            "kill_policy": {"grace_period": {"nanoseconds": 10**10}},
        },
    )
    polite = agent.ack_through("polite", "TASK_KILLED")
    polite_secs = time.monotonic() - start
    stubborn = agent.ack_through("stubborn", "TASK_KILLED")
    stubborn_secs = time.monotonic() - start
    assert polite["message"] == "Container exited with status 3" and polite_secs < 3
    assert stubborn["message"] == "Container exited with status 137" and stubborn_secs >= 3
    states = [s["state"] for s in recorder.statuses("stubborn")]
    assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
    metrics = agent.get("/metrics/snapshot")
    assert (metrics["slave/tasks_killed"], metrics["slave/tasks_finished"], metrics["slave/tasks_failed"]) == (2, 1, 1)

    # shutdown_framework: the executor's shutdown grace (--executor_shutdown_grace_period 5 s
    # minus 2 s = 3 s) before SIGKILL; the terminating framework's updates are dropped.
    agent.send("run_task", run_task(agent_id, "doomed", "exec sleep 1000", framework_id="F9"))
    doomed = agent.ack_through("doomed", "TASK_RUNNING", framework_id="F9")
    doomed_name = "mesos-" + doomed["container_status"]["container_id"]["value"]
    start = time.monotonic()
    assert agent.send("shutdown_framework", {"framework_id": {"value": "F9"}}) == (200, {})
    wait_for(lambda: not inspect(doomed_name)["State"]["Running"], 30, "the framework's container stopped")
    assert 3 <= time.monotonic() - start < 5
    wait_for(lambda: "F9" in [f["id"] for f in agent.get("/state")["completed_frameworks"]], 30, "F9 completed")
    assert [s["state"] for s in recorder.statuses("doomed")] == ["TASK_STARTING", "TASK_RUNNING"]


def test_health_checks(task_image: str, recorder: Recorder, agents: list[Agent], tmp_path: Path) -> None:
    agent = Agent(recorder, tmp_path / "w")
    agents.append(agent)
    agent_id = agent.registered()
    base = {"delay_seconds": 0, "interval_seconds": 1, "timeout_seconds": 3, "grace_period_seconds": 0}
    # HTTP and TCP checks reach 127.0.0.1 inside the task's network namespace: these servers
    # listen on the container's loopback only.
    agent.send(
        "run_task",
        run_task(
            agent_id,
            "http",
            "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www",
            network="BRIDGE",
            health_check={**base, "type": "HTTP", "http": {"port": 8080, "path": "/"}},
        ),
    )
    agent.send(
        "run_task",
        run_task(
            agent_id,
            "tcp",
            "exec httpd -f -p 127.0.0.1:8081 -h /tmp",
            network="BRIDGE",
            health_check={**base, "type": "TCP", "tcp": {"port": 8081}},
        ),
    )
    agent.send(
        "run_task",
        run_task(
            agent_id,
            "sick",
            "exec sleep 1000",
            kill_policy_secs=1,
            health_check={**base, "type": "COMMAND", "consecutive_failures": 2, "command": {"value": "test -e /nope"}},
        ),
    )
    for tid in ("http", "tcp"):
        # Updates go out one at a time: an early unhealthy result (the server still starting)
        # must be acknowledged before the healthy one is sent.
        healthy = agent.ack_through(tid, "TASK_RUNNING", healthy=True)
        assert healthy["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
        assert healthy["source"] == "SOURCE_EXECUTOR" and healthy["container_status"]["network_infos"]
    # A health check upstream's validation refuses: the docker executor logs it and runs the
    # task unchecked ("Failed to create health checker").
    agent.send(
        "run_task",
        run_task(
            agent_id,
            "unchecked",
            "exec sleep 1000",
            health_check={**base, "type": "TCP", "tcp": {"port": 1}, "interval_seconds": -1},
        ),
    )
    agent.ack_through("unchecked", "TASK_RUNNING")
    wait_for(lambda: "Expecting 'interval_seconds' to be non-negative" in agent.output(), 30, "the refused check")
    sick = agent.ack_through("sick", "TASK_KILLED", timeout=90)
    assert sick["healthy"] is False and sick["message"] == "Container exited with status 137"
    states = [(s["state"], s.get("healthy"), s.get("reason")) for s in recorder.statuses("sick")]
    unhealthy = ("TASK_RUNNING", False, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
    assert states == [
        ("TASK_STARTING", None, None),
        ("TASK_RUNNING", None, None),
        unhealthy,
        unhealthy,
        ("TASK_KILLING", None, None),
        ("TASK_KILLED", False, None),
    ]
    # Only the first healthy result is reported while the task stays healthy.
    assert len({s["uuid"] for s in recorder.statuses("http") if s.get("healthy") is True}) == 1
    assert all("healthy" not in s for s in recorder.statuses("unchecked"))


def test_pull_failure_and_unsupported_containers(recorder: Recorder, agents: list[Agent], tmp_path: Path) -> None:
    agent = Agent(recorder, tmp_path / "w")
    agents.append(agent)
    agent_id = agent.registered()
    agent.send("run_task", run_task(agent_id, "nopull", "true", image="orchestrator-platform/not-there:1"))
    failed = recorder.wait_state("nopull", "TASK_FAILED")
    assert failed["source"] == "SOURCE_AGENT" and failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed["message"].startswith(
        "Failed to launch container: Failed to run 'docker -H unix:///var/run/docker.sock pull "
        "orchestrator-platform/not-there:1': exited with status 1; stderr='Error response from daemon: "
    )
    assert agent.get("/metrics/snapshot")["slave/container_launch_errors"] == 1.0
    # Docker::RunOptions::create refuses port mappings on the host network (TASK_FAILED from
    # the executor), and `docker run` refuses an unknown flag (exit status 125).
    agent.send(
        "run_task",
        run_task(
            agent_id, "hostmap", "true", port_mappings=[{"host_port": 31001, "container_port": 80}], ports=[31001]
        ),
    )
    hostmap = agent.ack_through("hostmap", "TASK_FAILED")
    assert hostmap["message"] == (
        "Failed to create docker run options: Port mappings are only supported for bridge and user-defined networks"
    )
    bad = run_task(agent_id, "badflag", "true")
    bad["task"]["container"]["docker"]["parameters"].append({"key": "no-such-flag", "value": "1"})
    agent.send("run_task", bad)
    badflag = agent.ack_through("badflag", "TASK_FAILED")
    assert badflag["message"] == "Container exited with status 125" and badflag["source"] == "SOURCE_EXECUTOR"
    cid = badflag["container_status"]["container_id"]["value"]
    sandbox = tmp_path / "w" / "slaves" / agent_id / "frameworks" / "F1" / "executors" / "badflag" / "runs" / cid
    assert "unknown flag: --no-such-flag" in (sandbox / "stderr").read_text()
    # Messages from a master the agent is not registered with are ignored.
    stray = run_task(agent_id, "stray", "true")
    stray["master_id"] = "ANOTHER-MASTER"
    assert agent.send("run_task", stray)[0] == 403 and recorder.statuses("stray") == []
    # A plain command task: the double's mesos containerizer runs no tasks.
    agent.send("run_task", run_task(agent_id, "plain", "true", container_type=None))
    plain = recorder.wait_state("plain", "TASK_FAILED")
    assert plain["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    docker_only = Agent(recorder, tmp_path / "d", "--containerizers=docker")
    agents.append(docker_only)
    d_id = docker_only.registered()
    docker_only.send("run_task", run_task(d_id, "mesos-type", "true", container_type="MESOS"))
    lost = recorder.wait_state("mesos-type", "TASK_FAILED")
    assert lost["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert lost["message"] == "Abnormal executor termination: unknown container"


def test_agent_restart_recovers_tasks_and_kills_orphans(
    task_image: str, recorder: Recorder, agents: list[Agent], tmp_path: Path
) -> None:
    work = tmp_path / "w"
    first = Agent(recorder, work)
    agents.append(first)
    agent_id = first.registered()
    first.send("run_task", run_task(agent_id, "kept", "exec sleep 1000", kill_policy_secs=1))
    first.send("run_task", run_task(agent_id, "volatile", "exec sleep 1000", framework_id="F2", checkpoint=False))
    first.ack_through("kept", "TASK_STARTING")
    running = recorder.wait_state("kept", "TASK_RUNNING")  # left unacknowledged over the restart
    volatile = first.ack_through("volatile", "TASK_RUNNING", framework_id="F2")
    kept_name = "mesos-" + running["container_status"]["container_id"]["value"]
    volatile_name = "mesos-" + volatile["container_status"]["container_id"]["value"]
    started_at = inspect(kept_name)["State"]["StartedAt"]
    first.kill(signal.SIGKILL)
    assert inspect(kept_name)["State"]["Running"]

    # --recover=reconnect (default): same agent id, same container, tasks in the registration.
    second = Agent(recorder, work, port=first.port)
    agents.append(second)
    assert second.registered() == agent_id
    last = recorder.registrations[-1]
    assert last["info"]["id"] == {"value": agent_id}
    assert [(t["task_id"]["value"], t["state"]) for t in last["tasks"]] == [("kept", "TASK_RUNNING")]
    # A recovered task carries no status_update_state (Executor::recoverTask): the master's
    # reconciliation then answers its state (TASK_RUNNING), not an older forwarded one.
    assert "status_update_state" not in last["tasks"][0]
    assert [f["id"]["value"] for f in last["frameworks"]] == ["F1"]
    # The checkpointed, unacknowledged TASK_RUNNING goes out again after re-registration.
    wait_for(lambda: [s["uuid"] for s in recorder.statuses("kept")].count(running["uuid"]) >= 2, 30, "RUNNING re-sent")
    assert inspect(kept_name)["State"]["StartedAt"] == started_at and inspect(kept_name)["State"]["Running"]
    # The non-checkpointing framework's container is an orphan: stopped and removed.
    assert inspect(volatile_name) is None
    # The recovered task is still under the agent's control.
    second.send("kill_task", {"framework_id": {"value": "F1"}, "task_id": {"value": "kept"}})
    killed = second.ack_through("kept", "TASK_KILLED")
    assert killed["message"] == "Container exited with status 137"


def test_recover_cleanup_and_new_agent_id_kill_containers(
    task_image: str, recorder: Recorder, agents: list[Agent], tmp_path: Path
) -> None:
    work = tmp_path / "w"
    first = Agent(recorder, work)
    agents.append(first)
    agent_id = first.registered()
    first.send("run_task", run_task(agent_id, "a", "exec sleep 1000", kill_policy_secs=0))
    name_a = "mesos-" + first.ack_through("a", "TASK_RUNNING")["container_status"]["container_id"]["value"]
    first.kill(signal.SIGKILL)
    # --recover=cleanup: the recovered executors are shut down, then the agent terminates.
    cleanup = Agent(recorder, work, "--recover=cleanup", port=first.port)
    agents.append(cleanup)
    assert cleanup.popen.wait(timeout=60) == 0, cleanup.output()
    assert not inspect(name_a)["State"]["Running"]

    again = Agent(recorder, work, port=first.port)
    agents.append(again)
    assert again.registered() == agent_id
    again.send("run_task", run_task(agent_id, "b", "exec sleep 1000"))
    name_b = "mesos-" + again.ack_through("b", "TASK_RUNNING")["container_status"]["container_id"]["value"]
    again.kill(signal.SIGKILL)
    # A new agent id (meta/slaves/latest removed): every known container is an orphan.
    os.unlink(work / "meta" / "slaves" / "latest")
    keeper = Agent(recorder, work, "--docker_kill_orphans=false", port=first.port)
    agents.append(keeper)
    assert keeper.registered() != agent_id
    assert inspect(name_b)["State"]["Running"]  # --docker_kill_orphans=false leaves it
    keeper.kill(signal.SIGKILL)
    fresh = Agent(recorder, work, port=first.port)
    agents.append(fresh)
    fresh.registered()
    assert inspect(name_b) is None
    shutil.rmtree(work, ignore_errors=True)
