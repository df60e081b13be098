#!/usr/bin/env python
"""marathon_app scaling one app 0 -> N instances and back: wall time and who spent the CPU.

Issue 17's number: "Scale one app 0 -> 50 instances across the lab agents: wall time, and the
double's and the module's CPU time". Marathon here is the project's PROTOCOL DOUBLE
(doubles/marathon), the Mesos master and agents are the Mesos protocol double (doubles/mesos),
the tasks are real Docker containers of the task image (tools/build-task-image: busybox httpd
on $PORT), each with a MESOS_HTTP health check.

Two targets:

* ``--target lab``: the running lab (``tools/lab up``; Marathon doubles on lab-master1..3,
  port 8080; Mesos agent doubles on lab-agent1..2 with ``cpus:1;mem:512``, their own nested
  Docker engines). The script holds ``flock /tmp/lab.lock`` for the whole run, creates one app
  of its own, and deletes it at the end; it changes nothing else.
* ``--target loopback``: the rig of ``benchmarks/marathon_app.py --mesos`` on this machine: a
  one-member loopback ZooKeeper, a Mesos master double, ``--agents`` agent doubles
  (``cpus:1;mem:512`` each, disjoint port ranges) on the host's Docker engine, and one Marathon
  double.

Steps: create the app with 0 instances (``marathon_app``, definition given); scale to N with
``marathon_app app_id=... instances=N wait=true``; read the app (tasks running and healthy, tasks
per agent); scale back to 0 the same way; delete the app (``state=absent``). Each module run is
its own process (``python -c`` running the module's ``main()`` as Ansible's module runner does,
minus the AnsiballZ unpacking), so its CPU time is that process's (``RUSAGE_CHILDREN``). The
doubles' CPU time is read from ``/proc/<pid>/stat`` (utime + stime, plus the reaped children's
cutime + cstime) of each double's process and its descendants, before and after each step; in
the lab the processes are found with ``docker top`` (the host sees the containers' processes).
The agents' nested Docker engines (lab) are reported beside them: they do the containers' work
the agent double asks for.

Usage (from the repository, after ``. tools/env``)::

    python benchmarks/marathon_scale.py --target lab [--instances 50]
    python benchmarks/marathon_scale.py --target loopback [--instances 50] [--agents 2]

Numbers, not assertions; it exits non-zero when a step failed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from marathon_app import http, start_marathon  # noqa: E402  # benchmarks/marathon_app.py, this directory

from tests.fixtures.zk_ensemble import ZkEnsemble  # noqa: E402
from tests.support.mesos_cluster import Cluster  # noqa: E402

LAB_LOCK = "/tmp/lab.lock"  # the lab's agreed lock
LAB_MASTERS = ("lab-master1", "lab-master2", "lab-master3")
LAB_AGENTS = ("lab-agent1", "lab-agent2")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# One module run: the module's main() with its arguments from stdin, as Ansible's runner calls it.
RUNNER = """
import sys
from ansible.module_utils import basic
from ansible_collections.orchestrator.platform.plugins.modules import marathon_app
basic._ANSIBLE_ARGS = sys.stdin.buffer.read()
basic._ANSIBLE_PROFILE = "legacy"
marathon_app.main()
"""


# ---------------------------------------------------------------------------------------------
# CPU time of processes (and their descendants) from /proc
# ---------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime + cutime + cstime in ticks) of ``pid``; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 (state) is [0]
    return int(fields[1]), sum(int(v) for v in fields[11:15])


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of ``roots`` and every living descendant (exited, reaped ones are in cutime)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
            ticks[int(entry)] = st[1]
    total, todo, seen = 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += ticks.get(pid, 0)
        todo += children.get(pid, [])
    return total / CLK_TCK


class CpuMeter:
    """Named groups of root pids; ``delta()`` is each group's CPU seconds since ``start()``."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: tree_cpu(pids) for name, pids in self.groups.items()}

    def delta(self) -> dict[str, float]:
        return {name: tree_cpu(pids) - self.before[name] for name, pids in self.groups.items()}


# ---------------------------------------------------------------------------------------------
# The module, one process per run
# ---------------------------------------------------------------------------------------------


def run_module(args: dict) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the module's process, result) of one marathon_app run."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER], input=payload, capture_output=True, env=env, check=False, timeout=1800
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {"failed": True, "msg": (proc.stdout + proc.stderr).decode(errors="replace")[-3000:]}
    return wall, cpu, result


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


class Target:
    """Where the app runs: Marathon URLs, the image, the processes to meter, leftovers to count."""

    name = ""
    urls: list[str]
    image: str
    groups: dict[str, list[int]]

    def containers(self, label: str) -> int:
        raise NotImplementedError

    def remove_containers(self, label: str) -> int:
        raise NotImplementedError


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120).stdout


def container_pids(container: str, needle: str) -> list[int]:
    """Host pids of the processes of ``container`` whose command line contains ``needle``."""
    out = docker("top", container, "-eo", "pid,args")
    return [int(line.split(None, 1)[0]) for line in out.splitlines()[1:] if needle in line]


class Lab(Target):
    name = "lab"

    def __init__(self) -> None:
        group_vars = REPO / "inventories" / "lab" / "group_vars" / "all.yml"
        import yaml  # noqa: PLC0415 - only the lab target reads the inventory

        self.image = yaml.safe_load(group_vars.read_text())["lab_task_image"]
        ips = [docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", m).strip()
               for m in LAB_MASTERS]  # fmt: skip
        self.urls = [f"http://{ip}:8080" for ip in ips]
        answer = http(8080, "GET", "/v2/leader", host=ips[0])
        if not isinstance(answer[1], dict) or answer[1].get("leader", "").partition(":")[0] not in LAB_MASTERS:
            raise SystemExit(f"no Marathon leader named by {self.urls[0]}/v2/leader: {answer}")
        leader = answer[1]["leader"].partition(":")[0]
        standbys = [m for m in LAB_MASTERS if m != leader]
        self.groups = {
            f"Marathon double leader ({leader})": container_pids(leader, "marathon_double"),
            "Marathon doubles standing by (2)": [p for m in standbys for p in container_pids(m, "marathon_double")],
            "Mesos master doubles (3)": [p for m in LAB_MASTERS for p in container_pids(m, "mesos_double master")],
            "Mesos agent doubles (2)": [p for a in LAB_AGENTS for p in container_pids(a, "mesos_double agent")],
            "agents' nested dockerd + containerd": [
                p
                for a in LAB_AGENTS
                for needle in ("dockerd", "/usr/bin/containerd")
                for p in container_pids(a, needle)
            ],
        }

    def containers(self, label: str) -> int:
        """Running containers of this run on the agents' engines."""
        return sum(
            len(docker("exec", a, "docker", "ps", "-q", "--filter", f"label={label}").split()) for a in LAB_AGENTS
        )

    def remove_containers(self, label: str) -> int:
        removed = 0
        for agent in LAB_AGENTS:
            ids = docker("exec", agent, "docker", "ps", "-aq", "--filter", f"label={label}").split()
            if ids:
                docker("exec", agent, "docker", "rm", "-f", *ids, check=False)
                removed += len(ids)
        return removed


class Loopback(Target):
    name = "loopback"

    def __init__(self, zk: ZkEnsemble, work: Path, agents: int, log: Any) -> None:
        subprocess.run([str(REPO / "tools" / "build-task-image")], capture_output=True, check=True, timeout=600)
        self.image = "orchestrator-platform/task-busybox:1"
        self.cluster = Cluster(zk.connect_string, work, masters=1, master_flags=("--registry=in_memory",))
        self.marathon: subprocess.Popen | None = None
        try:
            self.urls = [self._start(zk, agents, log)]
        except BaseException:
            self.close()
            raise

        def pid(p: Any) -> list[int]:
            return [p.popen.pid] if p.popen is not None else []

        self.groups = {
            "Marathon double": [self.marathon.pid] if self.marathon is not None else [],
            "Mesos master double": [q for m in self.cluster.masters for q in pid(m)],
            f"Mesos agent doubles ({agents})": [q for a in self.cluster.agents for q in pid(a)],
        }

    def _start(self, zk: ZkEnsemble, agents: int, log: Any) -> str:
        self.cluster.start_masters()
        span = 1000 // agents  # disjoint port ranges: the agents share this host's ports
        for i in range(agents):
            low = 31000 + i * span
            agent = self.cluster.add_agent(f"cpus:1;mem:512;disk:2048;ports:[{low}-{low + span - 1}]")
            self.cluster.wait_agent(agent)
        self.marathon, port = start_marathon(f"zk://{zk.connect_string}/scale-marathon", self.cluster.zk_url, log)
        deadline = time.monotonic() + 60
        while not http(port, "GET", "/v2/info")[1].get("frameworkId"):
            if time.monotonic() > deadline:
                raise RuntimeError("the Marathon double did not register with the Mesos double")
            time.sleep(0.2)
        return f"http://127.0.0.1:{port}"

    def containers(self, label: str) -> int:
        """Running containers of this run on the host's engine."""
        return len(docker("ps", "-q", "--filter", f"label={label}").split())

    def remove_containers(self, label: str) -> int:
        ids = docker("ps", "-aq", "--filter", f"label={label}").split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        return len(ids)

    def close(self) -> None:
        if self.marathon is not None:
            self.marathon.kill()
            self.marathon.wait(timeout=10)
        self.cluster.stop()


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    with open(LAB_LOCK, "a") as handle:
        print(f"waiting for {LAB_LOCK} ...", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
        print(f"holding {LAB_LOCK}", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------------------------


def app_definition(app_id: str, image: str, label: str) -> dict:
    check = {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 120,
             "intervalSeconds": 5, "timeoutSeconds": 3, "delaySeconds": 0, "maxConsecutiveFailures": 3}  # fmt: skip
    return {
        "id": app_id,
        "instances": 0,
        "cpus": 0.01,
        "mem": 8,
        "disk": 0,
        "container": {"type": "DOCKER", "docker": {"image": image, "parameters": [{"key": "label", "value": label}]}},
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [check],
        "backoffSeconds": 1,
    }


def tasks_per_agent(app: dict) -> dict[str, int]:
    """Tasks by agent (``host/..last characters of the agent id``: loopback agents share a host)."""
    counts: dict[str, int] = {}
    for task in app.get("tasks") or []:
        agent = f"{task.get('host') or '?'}/..{str(task.get('slaveId') or '?')[-6:]}"
        counts[agent] = counts.get(agent, 0) + 1
    return dict(sorted(counts.items()))


def step(target: Target, what: str, args: dict) -> dict:
    meter = CpuMeter(target.groups)
    load = os.getloadavg()
    meter.start()
    wall, cpu, result = run_module(args)
    doubles = meter.delta()
    status = "FAILED: " + str(result.get("msg"))[:1500] if result.get("failed") else "ok"
    print(f"{what}: {status}")
    print(f"  load before: {tuple(round(v, 2) for v in load)}, after: {tuple(round(v, 2) for v in os.getloadavg())}")
    print(
        f"  wall {wall:.1f} s (module process, start to exit; it waited {result.get('waited')} s for the "
        f"deployment), api_calls {result.get('api_calls')}, changed {result.get('changed')}"
    )
    print(f"  CPU s: module process {cpu:.2f}; " + "; ".join(f"{k} {v:.2f}" for k, v in doubles.items()))
    return {"wall": wall, "cpu": cpu, "doubles": doubles, "result": result}


def measure(target: Target, instances: int) -> int:
    print(f"target: {target.name}; Marathon URLs {target.urls}; image {target.image}")
    for name, pids in target.groups.items():
        print(f"  metered: {name}: pids {pids}")
    stamp = time.strftime("%Y%m%d%H%M%S")
    app_id = f"/bench/scale-{stamp}"
    label = f"orchestrator-platform.marathon-scale={stamp}"
    base = {"urls": target.urls, "retries": 2, "wait_timeout": 900, "poll_interval": 0.5}
    failures = 0
    try:
        out = step(target, "create (0 instances)", {**base, "app": app_definition(app_id, target.image, label)})
        failures += bool(out["result"].get("failed"))
        if not failures:
            out = step(target, f"scale 0 -> {instances}", {**base, "app_id": app_id, "instances": instances})
            failures += bool(out["result"].get("failed"))
            app = out["result"].get("app") or {}
            print(
                f"  at the end: instances {app.get('instances')}, tasksRunning {app.get('tasksRunning')}, "
                f"tasksHealthy {app.get('tasksHealthy')}, tasksStaged {app.get('tasksStaged')}, "
                f"running containers of the run {target.containers(label)}"
            )
            print(f"  tasks per agent: {tasks_per_agent(app)}")
            out = step(target, f"scale {instances} -> 0", {**base, "app_id": app_id, "instances": 0})
            failures += bool(out["result"].get("failed"))
            app = out["result"].get("app") or {}
            print(
                f"  at the end: instances {app.get('instances')}, tasksRunning {app.get('tasksRunning')}, "
                f"running containers of the run {target.containers(label)}"
            )
    finally:
        out = step(target, "delete", {**base, "app_id": app_id, "state": "absent"})
        failures += bool(out["result"].get("failed"))
        time.sleep(2)
        running = target.containers(label)
        left = target.remove_containers(label)
        # The agent stops a killed task's container and keeps it, as Mesos does (--docker_remove_delay).
        print(f"containers of this run after the delete: {running} running, {left} in all (removed now)")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", choices=("lab", "loopback"), required=True)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--agents", type=int, default=2, help="loopback: agent doubles (cpus:1;mem:512 each)")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    if args.target == "lab":
        with lab_lock():
            rc = measure(Lab(), args.instances)
    else:
        with (
            ZkEnsemble(size=1, name="bench-scale") as zk,
            tempfile.TemporaryDirectory(prefix="bench-scale-") as work,
            tempfile.NamedTemporaryFile(suffix=".log") as log,
        ):
            target = Loopback(zk, Path(work), args.agents, log)
            try:
                rc = measure(target, args.instances)
            finally:
                target.close()
    print(f"load: {os.getloadavg()}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
