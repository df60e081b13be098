"""Tasks on the lab's Mesos, launched by a framework from outside.

The lab's Mesos is the project's PROTOCOL DOUBLE (doubles/mesos), not Apache Mesos. The
framework is the scheduler client of tests/support/mesos_scheduler.py, written from Mesos's
scheduler HTTP API docs. Each task is a REAL container in the agent's nested Docker engine,
pulled from the lab's registry (test_registry.py checks the registry itself), with the task's
limits in its own cgroup. Restarting an agent's service leaves its task running.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support import mesos_scheduler as ms
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from lab_inventory import AGENTS, group_vars
from mesos_checks import AGENT_PORT, MASTER_PORT, agents_by_hostname, elected_masters, http_json
from scenario_helpers import container_ip, docker_exec

IMAGE = group_vars("all")["lab_task_image"]
TASK_MEM_MB = 48
TASK_CPUS = 0.25
# src/slave/constants.hpp CPU_SHARES_PER_CPU: the docker containerizer's --cpu-shares.
CPU_SHARES = int(TASK_CPUS * 1024)
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@contextlib.contextmanager
def framework(mesos_ips: dict[str, str], name: str) -> Iterator[ms.Scheduler]:
    """A checkpointing framework subscribed to the leader; torn down (its tasks killed) after."""
    leaders = elected_masters(mesos_ips)
    assert len(leaders) == 1, leaders
    # The leader by address: a follower's 307 names the leader by a hostname the host can't resolve.
    scheduler = ms.Scheduler(
        [f"{mesos_ips[leaders[0]]}:{MASTER_PORT}"],
        ms.framework_info(name, failover_timeout=600, checkpoint=True),
    )
    scheduler.subscribe()
    try:
        yield scheduler
    finally:
        with contextlib.suppress(AssertionError, OSError):
            scheduler.teardown()
        scheduler.close()


def offers_for(scheduler: ms.Scheduler, hosts: list[str], since: int) -> dict[str, dict[str, Any]]:
    """One usable offer per agent host, gathered from the OFFERS events as they arrive."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while set(found) != set(hosts):
        left = deadline - time.monotonic()
        assert left > 0, f"offers only from {sorted(found)}; {scheduler.describe()}"
        for offer in scheduler.wait_offers(
            left, since=since, pred=lambda o: o["hostname"] in hosts and o["hostname"] not in found
        ):
            found.setdefault(offer["hostname"], offer)
        since = scheduler.mark()
    return found


def first_port(offer: dict[str, Any]) -> int:
    ports = next(r for r in offer["resources"] if r["name"] == "ports")
    return int(ports["ranges"]["range"][0]["begin"])


def http_task(task_id: str, offer: dict[str, Any], port: int) -> dict[str, Any]:
    """The task image's busybox httpd on an offered port of the agent's host network."""
    task = ms.docker_task(
        task_id,
        offer["agent_id"]["value"],
        IMAGE,
        cpus=TASK_CPUS,
        mem=TASK_MEM_MB,
        command=f"exec httpd -f -p {port} -h /www",
        extra_resources=[{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": port, "end": port}]}}],
        kill_grace=2,
    )
    task["health_check"] = {
        "type": "HTTP",
        "http": {"port": port, "path": "/health"},
        "delay_seconds": 0.0,
        "interval_seconds": 1.0,
        "grace_period_seconds": 10.0,
    }
    return task


def task_container(agent: str, status: dict[str, Any]) -> str:
    """The running container of a task in ``agent``'s nested engine: the docker containerizer
    names it ``mesos-<ContainerID>``, the ContainerID its status updates carry."""
    container_id = status["container_status"]["container_id"]["value"]
    name = f"mesos-{container_id}"
    running = docker_exec(agent, f"docker inspect -f '{{{{.State.Running}}}}' {name}", check=False).strip()
    assert running == "true", f"{name} on {agent}: {running!r}"
    return name


def http_ok(url: str) -> bool:
    try:
        with DIRECT.open(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def launch_on(scheduler: ms.Scheduler, hosts: list[str], prefix: str) -> dict[str, tuple[str, int, dict[str, Any]]]:
    """One health-checked HTTP task per host: {host: (task id, port, its healthy RUNNING status)}."""
    offers = offers_for(scheduler, hosts, since=0)
    launched: dict[str, tuple[str, int]] = {}
    running: dict[str, tuple[str, int, dict[str, Any]]] = {}
    for host, offer in offers.items():
        port = first_port(offer)
        task_id = f"{prefix}-{host}-{int(time.time())}"
        scheduler.launch(offer, [http_task(task_id, offer, port)])
        launched[host] = (task_id, port)
    for host, (task_id, port) in launched.items():
        # The agent pulls the image from the lab registry first: allow for it.
        status = scheduler.wait_update(task_id, "TASK_RUNNING", 120, pred=lambda s: s.get("healthy") is True)
        running[host] = (task_id, port, status)
    return running


def test_a_framework_runs_a_registry_image_task_on_every_agent(mesos_ips):
    with framework(mesos_ips, "lab-verify-tasks") as scheduler:
        launched = launch_on(scheduler, list(AGENTS), "verify")
        containers = {}
        for agent, (_task_id, port, status) in launched.items():
            cid = containers[agent] = task_container(agent, status)
            # Pulled from the lab registry by the name the task gave.
            assert docker_exec(agent, f"docker inspect -f '{{{{.Config.Image}}}}' {cid}").strip() == IMAGE
            # The task's limits, read from the container's own cgroups (v1, cgroupfs driver).
            limit = int(docker_exec(agent, f"docker exec {cid} cat /sys/fs/cgroup/memory/memory.limit_in_bytes"))
            assert limit == TASK_MEM_MB * 1024 * 1024
            shares = int(docker_exec(agent, f"docker exec {cid} cat /sys/fs/cgroup/cpu/cpu.shares"))
            assert shares == CPU_SHARES
            # Serving on the agent's address, as its health check saw it.
            assert http_ok(f"http://{container_ip(agent)}:{port}/health")
        # The leader counts them, and so does each agent.
        status, metrics = http_json(f"http://{mesos_ips[elected_masters(mesos_ips)[0]]}:{MASTER_PORT}/metrics/snapshot")
        assert status == 200 and metrics["master/tasks_running"] >= len(AGENTS), metrics
        for agent in AGENTS:
            status, metrics = http_json(f"http://{mesos_ips[agent]}:{AGENT_PORT}/metrics/snapshot")
            assert status == 200 and metrics["slave/tasks_running"] >= 1, metrics
    # TEARDOWN killed them: no mesos- container of theirs is left.
    for agent, cid in containers.items():
        wait_for(
            lambda a=agent, c=cid: c not in docker_exec(a, "docker ps --format '{{.Names}}' --filter name=^/mesos-"),
            30,
            f"{cid} on {agent} gone after TEARDOWN",
            interval=0.5,
        )


@pytest.mark.disruptive
def test_an_agent_restart_keeps_its_task_running_under_the_same_agent_id(mesos_ips):
    agent = AGENTS[0]
    with framework(mesos_ips, "lab-verify-restart") as scheduler:
        (task_id, port, status) = launch_on(scheduler, [agent], "restart")[agent]
        cid = task_container(agent, status)
        started = docker_exec(agent, f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}").strip()
        agent_id = agents_by_hostname(mesos_ips)[agent]["id"]
        since = scheduler.mark()

        docker_exec(agent, "systemctl restart mesos-agent")

        # Re-registered with the same agent ID (--recover=reconnect, the default).
        wait_for(
            lambda: (
                (a := agents_by_hostname(mesos_ips).get(agent)) is not None
                and a["id"] == agent_id
                and a["active"]
                and a.get("reregistered_time")
            ),
            60,
            f"{agent} re-registered as {agent_id}",
            interval=0.25,
            details=lambda: repr(agents_by_hostname(mesos_ips).get(agent)),
        )
        # The same container, never restarted, still serving.
        assert task_container(agent, status) == cid
        assert docker_exec(agent, f"docker inspect -f '{{{{.State.StartedAt}}}}' {cid}").strip() == started
        assert http_ok(f"http://{container_ip(agent)}:{port}/health")
        # Reconciliation answers RUNNING, and no terminal update came meanwhile.
        scheduler.reconcile([(task_id, agent_id)])
        answer = scheduler.wait_update(
            task_id, "TASK_RUNNING", 30, since=since, pred=lambda s: s.get("reason") == "REASON_RECONCILIATION"
        )
        assert answer["agent_id"]["value"] == agent_id
        terminal = [s["state"] for s in scheduler.updates(task_id, since) if s["state"] != "TASK_RUNNING"]
        assert terminal == [], terminal
