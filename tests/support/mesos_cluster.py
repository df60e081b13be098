"""Mesos master and agent processes of the protocol double (doubles/mesos) on 127.0.0.1.

For the module and workload tests and the benchmarks: masters that elect a leader through a real
ZooKeeper (``zk://...``), agents with the docker containerizer on the host's Docker engine,
each with its own ``--work_dir`` and free ports. Processes are started with this interpreter
and logged to a file; ``stop()`` sends SIGTERM (an agent restart), ``kill()`` SIGKILL (a
crash). Readiness is a real answer over HTTP, waited for with a deadline.

Only processes started here are ever signalled, by their own Popen handle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from .ports import free_port
from .waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
# ORCH_MESOS_DOUBLE: another copy of the double's package (e.g. a committed revision exported
# with `git archive`, while the work tree's copy is being edited).
DOUBLE = Path(os.environ.get("ORCH_MESOS_DOUBLE") or REPO / "doubles" / "mesos" / "mesos_double")
NOT_YET = (OSError, ValueError)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(hostport: str, path: str, method: str = "GET", body: Any = None, timeout: float = 5) -> tuple[int, dict, Any]:
    """(status, headers, JSON body or text) of one request; redirects are not followed."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{hostport}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            raw = resp.read()
            status, headers = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode(errors="replace")
    try:
        return status, headers, json.loads(raw) if raw.strip() else None
    except ValueError:
        return status, headers, raw.decode(errors="replace")


class DoubleProcess:
    """One process of the double (``master`` or ``agent``) with its flags and log file."""

    kind = "master"

    def __init__(self, port: int, work_dir: Path, flags: list[str]) -> None:
        self.port = port
        self.work_dir = work_dir
        self.flags = flags
        self.popen: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix=f"mesos-{self.kind}-{port}-", suffix=".log")[1])
        self.starts = 0

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return [
            sys.executable,
            str(DOUBLE),
            self.kind,
            f"--port={self.port}",
            "--ip=127.0.0.1",
            "--hostname=127.0.0.1",
            f"--work_dir={self.work_dir}",
            *self.flags,
        ]

    def start(self, timeout: float = 30) -> DoubleProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"---- start {self.starts + 1}: {' '.join(self.args())}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.args(), stdout=out, stderr=out, env=env)
        self.starts += 1
        wait_for(
            self.serving,
            timeout,
            f"{self.kind} {self.hostport} to answer /health",
            interval=0.1,
            retry_on=NOT_YET,
            details=self.tail,
        )
        return self

    def serving(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            raise AssertionError(f"{self.kind} {self.hostport} exited:\n{self.tail()}")
        return http(self.hostport, "/health")[0] == 200

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait: an orderly stop (an agent keeps its containers)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                return self.popen.wait(timeout=10)
        return None if self.popen is None else self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def tail(self, chars: int = 4000) -> str:
        return f"--- {self.log} ---\n" + self.log.read_text(errors="replace")[-chars:]


class Master(DoubleProcess):
    kind = "master"


class Agent(DoubleProcess):
    kind = "agent"


class Cluster:
    """``masters`` masters (quorum ``masters // 2 + 1``) on one ZooKeeper path, and agents."""

    def __init__(
        self,
        zk_connect: str,
        work: Path,
        *,
        masters: int = 3,
        master_flags: tuple[str, ...] = (),
        zk_path: str | None = None,
    ) -> None:
        self.zk_path = zk_path or f"/mesos-wl-{uuid.uuid4().hex[:8]}"
        self.zk_url = f"zk://{zk_connect}{self.zk_path}"
        self.work = work
        quorum = masters // 2 + 1
        self.masters = [
            Master(
                free_port(),
                work / f"master{i}",
                [f"--zk={self.zk_url}", f"--quorum={quorum}", "--zk_session_timeout=2secs", *master_flags],
            )
            for i in range(masters)
        ]
        self.agents: list[Agent] = []

    @property
    def master_hostports(self) -> list[str]:
        return [m.hostport for m in self.masters]

    @property
    def master_urls(self) -> list[str]:
        """``http://host:port`` of each master, as the modules' ``masters`` option takes them."""
        return [f"http://{m.hostport}" for m in self.masters]

    def start_masters(self) -> None:
        for m in self.masters:
            m.start()
        self.wait_leader()

    def add_agent(self, resources: str, *, containerizers: str = "docker,mesos", extra: tuple[str, ...] = ()) -> Agent:
        index = len(self.agents)
        agent = Agent(
            free_port(),
            self.work / f"agent{index}",
            [
                f"--master={self.zk_url}",
                f"--resources={resources}",
                f"--containerizers={containerizers}",
                "--executor_registration_timeout=5mins",
                *extra,
            ],
        )
        self.agents.append(agent)
        agent.start()
        return agent

    def leader(self) -> Master | None:
        """The master every running master's /master/redirect names, once it serves /master/state."""
        seen = set()
        for m in self.masters:
            if not m.running():
                continue
            status, headers, _body = http(m.hostport, "/master/redirect")
            if status != 307:
                return None
            seen.add(headers.get("Location"))
        if len(seen) != 1:
            return None
        location = seen.pop()
        leader = next((m for m in self.masters if location == f"//{m.hostport}"), None)
        if leader is None or not leader.running():
            return None
        return leader if http(leader.hostport, "/master/state")[0] == 200 else None

    def wait_leader(self, timeout: float = 40) -> Master:
        leader = wait_for(self.leader, timeout, "one leader named by every master", interval=0.1, retry_on=NOT_YET)
        assert leader is not None
        return leader

    def state(self) -> dict:
        leader = self.wait_leader()
        status, _headers, body = http(leader.hostport, "/master/state")
        assert status == 200 and isinstance(body, dict), (status, body)
        return body

    def agent_record(self, agent: Agent) -> dict | None:
        """The leader's ``slaves`` entry for ``agent`` (by its pid's address), if registered and active."""
        leader = self.leader()
        if leader is None:
            return None
        status, _headers, body = http(leader.hostport, "/master/state")
        if status != 200 or not isinstance(body, dict):
            return None
        for slave in body.get("slaves") or []:
            if str(slave.get("pid", "")).endswith(f"@{agent.hostport}") and slave.get("active"):
                return slave
        return None

    def wait_agent(self, agent: Agent, timeout: float = 60) -> dict:
        def registered() -> dict | None:
            if not agent.running():
                raise AssertionError(f"agent {agent.hostport} exited:\n{agent.tail()}")
            return self.agent_record(agent)

        record = wait_for(
            registered,
            timeout,
            f"agent {agent.hostport} registered and active",
            interval=0.1,
            retry_on=NOT_YET,
            details=agent.tail,
        )
        assert record is not None
        return record

    def stop(self) -> None:
        for a in self.agents:
            a.stop()
        for m in self.masters:
            m.kill()

    def logs(self) -> str:
        return "\n".join(p.tail(2500) for p in [*self.masters, *self.agents])


# ----------------------------------------------------------------------------------------------
# Docker containers of the tasks, seen from the host
# ----------------------------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``docker args...`` on the host's engine; output as text."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def container_name(container_id: str) -> str:
    """The Docker containerizer's name for a Mesos ContainerID (``mesos-<ContainerID>``)."""
    return f"mesos-{container_id}"


def running_container(name: str) -> str | None:
    """Full Docker id of the RUNNING container called exactly ``name``; None when there is none."""
    out = docker("ps", "--no-trunc", "--filter", f"name=^/?{name}$", "--format", "{{.ID}} {{.Names}}").stdout
    for line in out.splitlines():
        cid, _sep, names = line.partition(" ")
        if name in names.split(","):
            return cid
    return None


def any_container(name: str) -> tuple[str, str] | None:
    """(full id, status text) of the container called ``name``, running or not."""
    out = docker(
        "ps", "-a", "--no-trunc", "--filter", f"name=^/?{name}$", "--format", "{{.ID}}\t{{.Names}}\t{{.Status}}"
    ).stdout
    for line in out.splitlines():
        cid, names, status = line.split("\t")
        if name in names.split(","):
            return cid, status
    return None


def cgroup_dir(controller: str, docker_id: str) -> Path:
    """The cgroup v1 directory of a container in ``controller`` (cpu, memory...), found by its full id."""
    base = CGROUP_ROOT / controller
    direct = [base / "docker" / docker_id, base / "system.slice" / f"docker-{docker_id}.scope"]
    for path in direct:
        if path.is_dir():
            return path
    for path in base.rglob(f"*{docker_id}*"):
        if path.is_dir():
            return path
    raise AssertionError(f"no {controller} cgroup for container {docker_id} under {base}")


def cgroup_int(controller: str, docker_id: str, name: str) -> int:
    """An integer cgroup file of the container (``memory.limit_in_bytes``, ``cpu.shares``)."""
    return int((cgroup_dir(controller, docker_id) / name).read_text().strip())


def remove_containers(names: list[str] | set[str]) -> list[str]:
    """``docker rm -f`` each of ``names`` that exists (only containers the caller created); those removed."""
    removed = []
    for name in sorted(set(names)):
        if any_container(name) is not None:
            docker("rm", "-f", name, check=False)
            removed.append(name)
    return removed
