#!/usr/bin/env python
"""Tasks on the Mesos protocol double: launch latency beside a raw ``docker run``, and recovery.

Starts a loopback ZooKeeper ensemble (the test fixture's JVMs), three masters of
``doubles/mesos`` (quorum 2) and two agents with ``--containerizers=docker,mesos`` on the
host's Docker engine, and drives them with the scheduler client of
``tests/support/mesos_scheduler.py`` (written from the Mesos docs). Tasks run the image of
``tools/build-task-image`` (busybox) with a command that sleeps until SIGTERM.

1. Launch latency, one task at a time on agent 1: the time from sending ACCEPT(LAUNCH) on the
   first usable offer to the arrival of that task's TASK_RUNNING event on the stream (the
   reader thread stamps each event as it arrives). Between two launches, in the same run, two
   floors of the same image and command on the same engine, so a loaded machine weighs on all
   alike: ``docker run -d`` (the CLI, as upstream's docker executor runs it; until the command
   returns, i.e. the container started) and the engine API's create + start over the unix
   socket (as the double's agent does it, without the CLI's own start-up). Prints p50, p90,
   p99 and max of each and the ratios.
2. Recovery: N tasks of a checkpointing framework run on agent 2; the agent is stopped
   (SIGTERM) and started again with the same ``--work_dir``. Prints how many tasks the master
   reports RUNNING again (explicit reconciliation, docs/reconciliation.md), how many of their
   containers kept running (same Docker id), whether the agent kept its ID, and the times from
   the new process's start to: the master listing the agent active again, and every task
   reconciled RUNNING.

Usage (from the repository, after ``. tools/env``; ``tools/build-task-image`` is run first)::

    python benchmarks/mesos_tasks.py [--tasks 50] [--recover 20] [--zk-size 1]

Numbers, not assertions. Only the containers it created (``mesos-<ContainerID>`` of its tasks,
``bench-floor-*``) are removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.fixtures.zk_ensemble import ZkEnsemble  # noqa: E402  # the test fixture: real JVMs on free loopback ports
from tests.support import mesos_scheduler as ms  # noqa: E402
from tests.support.mesos_cluster import (  # noqa: E402
    REPO,
    Cluster,
    container_name,
    docker,
    remove_containers,
    running_container,
)
from tests.support.waiting import wait_until  # noqa: E402

IMAGE = "orchestrator-platform/task-busybox:1"
RUN_FOREVER = "trap 'exit 0' TERM; sleep 100000 & wait"
CPUS, MEM = 0.05, 32
TIMEOUT = 180


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def container_ids(sched: ms.Scheduler) -> set[str]:
    out = set()
    for e in sched.events:
        cid = e.status.get("container_status", {}).get("container_id", {}).get("value")
        if cid:
            out.add(cid)
    return out


def task_info(task_id: str, offer: dict[str, Any]) -> dict[str, Any]:
    return ms.docker_task(task_id, offer["agent_id"]["value"], IMAGE, cpus=CPUS, mem=MEM, command=RUN_FOREVER)


class EngineConnection(http.client.HTTPConnection):
    """HTTP to the Docker engine's unix socket."""

    def __init__(self, path: str = "/var/run/docker.sock") -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(self.path)
        self.sock = sock


def engine_run(name: str) -> None:
    """Create and start the task's container through the engine API (what the double does; the
    CLI that upstream runs adds its own start-up)."""
    conn = EngineConnection()
    try:
        body = {
            "Image": IMAGE,
            "Entrypoint": ["/bin/sh"],
            "Cmd": ["-c", RUN_FOREVER],
            "HostConfig": {"NetworkMode": "host"},
        }
        conn.request(
            "POST", f"/v1.41/containers/create?name={name}", json.dumps(body), {"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        created = json.loads(resp.read() or b"{}")
        if resp.status != 201:
            raise SystemExit(f"engine create answered {resp.status}: {created}")
        conn.request("POST", f"/v1.41/containers/{created['Id']}/start")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 204:
            raise SystemExit(f"engine start answered {resp.status}")
    finally:
        conn.close()


def launch_latency(
    sched: ms.Scheduler, agent_id: str, count: int, floor_names: list[str]
) -> tuple[list[float], list[float], list[float]]:
    """(ACCEPT -> TASK_RUNNING, docker run -d, engine API create+start) seconds, interleaved one by one."""
    tasks: list[float] = []
    floor: list[float] = []
    api_floor: list[float] = []

    def on_agent(o: dict[str, Any]) -> bool:
        return o["agent_id"]["value"] == agent_id and ms.offer_scalar(o, "cpus") >= CPUS

    for i in range(count):
        name = f"bench-floor-{uuid.uuid4().hex[:8]}"
        floor_names.append(name)
        start = time.monotonic()
        docker("run", "-d", "--name", name, "--network", "host", "--entrypoint", "/bin/sh", IMAGE, "-c", RUN_FOREVER)
        floor.append(time.monotonic() - start)
        name = f"bench-floor-api-{uuid.uuid4().hex[:8]}"
        floor_names.append(name)
        start = time.monotonic()
        engine_run(name)
        api_floor.append(time.monotonic() - start)

        offer = sched.wait_offers(TIMEOUT, pred=on_agent, what="an offer on agent 1")[0]
        task_id = f"lat-{i}-{uuid.uuid4().hex[:6]}"
        since = sched.mark()
        sent = time.monotonic()
        sched.launch(offer, [task_info(task_id, offer)])
        event = sched.wait(ended_launch(task_id), TIMEOUT, f"{task_id} running", since=since)
        if event.status["state"] != "TASK_RUNNING":
            raise SystemExit(f"{task_id} did not run: {event.status}")
        tasks.append(event.received - sent)
        print(
            f"  {i + 1:3d}/{count}: task {tasks[-1] * 1000:7.1f} ms   docker run {floor[-1] * 1000:7.1f} ms"
            f"   engine API {api_floor[-1] * 1000:7.1f} ms",
            flush=True,
        )
    return tasks, floor, api_floor


RUNNING_OR_END = ms.TERMINAL_STATES | {"TASK_RUNNING", "TASK_LOST"}


def ended_launch(task_id: str) -> Callable[[ms.Event], bool]:
    """The first update of ``task_id`` that ends its launch (RUNNING, or a terminal state)."""

    def match(e: ms.Event) -> bool:
        return e.type == "UPDATE" and e.task_id == task_id and e.status.get("state") in RUNNING_OR_END

    return match


def print_latency(tasks: list[float], floor: list[float], api_floor: list[float]) -> None:
    t, f, a = summary(tasks), summary(floor), summary(api_floor)
    keys = ("p50", "p90", "p99", "max")
    print()
    print("| | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print("| ACCEPT -> TASK_RUNNING | " + " | ".join(f"{t[k] * 1000:.1f}" for k in keys) + " |")
    print("| `docker run -d` (CLI floor) | " + " | ".join(f"{f[k] * 1000:.1f}" for k in keys) + " |")
    print("| engine API create+start (API floor) | " + " | ".join(f"{a[k] * 1000:.1f}" for k in keys) + " |")
    print("| ratio task / CLI floor | " + " | ".join(f"{t[k] / f[k]:.2f}" for k in keys) + " |")
    print("| ratio task / API floor | " + " | ".join(f"{t[k] / a[k]:.2f}" for k in keys) + " |")


def print_recovery(r: dict[str, Any]) -> None:
    print(f"  RUNNING on the same agent in the leader's /master/state: {r['running_in_state']}/{r['tasks']}")
    print(f"  RUNNING in explicit reconciliation: {r['running_after']}/{r['tasks']} {r['states_after']}")
    print(f"  same containers still running: {r['same_containers']}/{r['tasks']}; same agent ID: {r['same_agent_id']}")
    rereg = "never" if r["reregistered_s"] is None else f"{r['reregistered_s']:.2f} s"
    print(f"  start -> agent active on the master again: {rereg}")
    print(f"  start -> all tasks reconciled: {r['all_reconciled_s']:.2f} s")


def describe_revision() -> str:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "doubles"], capture_output=True, text=True, check=False
    )
    if os.environ.get("ORCH_MESOS_DOUBLE"):
        return f"commit {commit.stdout.strip()}; the double from ORCH_MESOS_DOUBLE={os.environ['ORCH_MESOS_DOUBLE']}"
    return f"commit {commit.stdout.strip()}" + (" (doubles/ has uncommitted changes)" if dirty.stdout.strip() else "")


def recovery(cluster: Cluster, sched: ms.Scheduler, count: int) -> dict[str, Any]:
    agent = cluster.agents[1]
    before = cluster.wait_agent(agent)
    launched: list[tuple[str, str | None]] = []

    def on_agent(o: dict[str, Any]) -> bool:
        return o["agent_id"]["value"] == before["id"] and ms.offer_scalar(o, "cpus") >= CPUS

    since = sched.mark()
    while len(launched) < count:
        offer = sched.wait_offers(TIMEOUT, pred=on_agent, what="an offer on agent 2")[0]
        room = int(min(ms.offer_scalar(offer, "cpus") / CPUS, ms.offer_scalar(offer, "mem") / MEM))
        batch = [f"rec-{len(launched) + k}-{uuid.uuid4().hex[:6]}" for k in range(min(room, count - len(launched)))]
        sched.launch(offer, [task_info(t, offer) for t in batch])
        launched += [(t, before["id"]) for t in batch]
    docker_ids: dict[str, str | None] = {}
    cids: dict[str, str] = {}
    for task_id, _agent in launched:
        status = sched.wait_update(task_id, RUNNING_OR_END, TIMEOUT, since=since)
        if status["state"] != "TASK_RUNNING":
            raise SystemExit(f"{task_id} did not run: {status}")
        cids[task_id] = status.get("container_status", {}).get("container_id", {}).get("value", "")
        docker_ids[task_id] = running_container(container_name(cids[task_id])) if cids[task_id] else None

    agent.stop()
    wait_until(lambda: cluster.agent_record(agent) is None, 30)
    started = time.monotonic()
    agent.start()
    waited = wait_until(lambda: cluster.agent_record(agent) is not None, 120, interval=0.01)
    registered = None if waited is None else time.monotonic() - started
    after = cluster.agent_record(agent) or {}
    answers = sched.reconcile_until(launched, 120)
    reconciled = time.monotonic() - started
    ours = {t for t, _a in launched}
    in_state = [
        t
        for fw in cluster.state().get("frameworks") or []
        for t in fw.get("tasks") or []
        if t.get("id") in ours and t.get("slave_id") == before["id"] and t.get("state") == "TASK_RUNNING"
    ]
    states: dict[str, int] = {}
    for t, _a in launched:
        st = answers.get(t, {}).get("state", "none")
        states[st] = states.get(st, 0) + 1
    same_containers = sum(
        1 for t, _a in launched if docker_ids[t] and running_container(container_name(cids[t])) == docker_ids[t]
    )
    return {
        "tasks": count,
        "running_after": states.get("TASK_RUNNING", 0),
        "running_in_state": len(in_state),
        "states_after": states,
        "same_containers": same_containers,
        "same_agent_id": after.get("id") == before["id"],
        "reregistered_s": registered,
        "all_reconciled_s": reconciled,
    }


def run(args: argparse.Namespace, floor_names: list[str], scheds: list[ms.Scheduler], cluster: Cluster) -> None:
    resources = "cpus:16;mem:16384;disk:8192;ports:[31000-31999]"
    cluster.start_masters()
    for _attempt in range(2):
        cluster.wait_agent(cluster.add_agent(resources))
    agent1 = cluster.wait_agent(cluster.agents[0])

    lat = ms.Scheduler(cluster.master_hostports, ms.framework_info("bench-latency", failover_timeout=600))
    scheds.append(lat)
    lat.subscribe(timeout=60)
    print(f"launch latency, {args.tasks} tasks one by one (ACCEPT -> TASK_RUNNING) and docker run -d:")
    tasks, floor, api_floor = launch_latency(lat, agent1["id"], args.tasks, floor_names)
    print_latency(tasks, floor, api_floor)
    lat.teardown(expect=None)
    remove_containers(floor_names)

    rec = ms.Scheduler(
        cluster.master_hostports, ms.framework_info("bench-recovery", failover_timeout=600, checkpoint=True)
    )
    scheds.append(rec)
    rec.subscribe(timeout=60)
    print(f"\nagent restart with {args.recover} running tasks:")
    print_recovery(recovery(cluster, rec, args.recover))
    rec.teardown(expect=None)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("--tasks", type=int, default=50, help="tasks launched one by one for the latency (default 50)")
    ap.add_argument("--recover", type=int, default=20, help="tasks running through the agent restart (default 20)")
    ap.add_argument("--zk-size", type=int, default=1, choices=(1, 3), help="ZooKeeper members (default 1)")
    args = ap.parse_args()

    print(f"start: {uptime()}", flush=True)
    build = subprocess.run([str(REPO / "tools" / "build-task-image")], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise SystemExit(f"tools/build-task-image failed:\n{build.stdout}\n{build.stderr}")
    print(describe_revision())

    floor_names: list[str] = []
    scheds: list[ms.Scheduler] = []
    zk = ZkEnsemble(size=args.zk_size, name="bench-mesos")
    zk.start(timeout=90)
    cluster = Cluster(zk.connect_string, Path(tempfile.mkdtemp(prefix="bench-mesos-")))
    try:
        run(args, floor_names, scheds, cluster)
    finally:
        names = set(floor_names)
        for s in scheds:
            names |= {container_name(c) for c in container_ids(s)}
            s.close()
        cluster.stop()
        zk.stop()
        removed = remove_containers(names)
        print(f"\nremoved {len(removed)} containers; end: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
