"""Tasks on the Mesos protocol double, driven by a scheduler client written from the Mesos docs.

Three masters (quorum 2) of ``doubles/mesos`` elect a leader through the real loopback ZooKeeper
ensemble (session fixture ``zk_ensemble``); two agents run with ``--containerizers=docker,mesos``
on the host's Docker engine, each with its own ``--work_dir``. Frameworks are
``tests/support/mesos_scheduler.Scheduler``: the v1 scheduler HTTP API as
``docs/scheduler-http-api.md`` and the protos describe it (RecordIO over a chunked stream,
``Mesos-Stream-Id``, 202 for calls, 307 to the leader, acknowledgements). Expected behaviour is
upstream's: the docs named in each test and, where the docs are silent, the Mesos source
(``src/master/http.cpp``, ``src/master/validation.cpp``, ``src/common/validation.cpp``,
``src/slave/containerizer/docker.cpp``, ``src/docker/docker.cpp``) - never the double's code.

Tasks run the image of ``tools/build-task-image`` (busybox). Containers are checked from the
host: ``mesos-<ContainerID>`` in ``docker ps``, limits in the cgroup (v1) files. Waits are on
scheduler events (the reader thread wakes the waiter per event), or on a real condition with a
deadline where no event can come (a disconnected framework). Only containers named after the
ContainerIDs these tests' tasks reported are removed at the end.
"""

from __future__ import annotations

import base64
import itertools
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support import mesos_scheduler as ms
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.mesos_cluster import (
    REPO,
    Cluster,
    any_container,
    cgroup_int,
    container_name,
    docker,
    http,
    remove_containers,
    running_container,
)
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

IMAGE = "orchestrator-platform/task-busybox:1"
MIB = 1024 * 1024
# src/docker/executor.cpp runs the task's container with task.resources() +
# task.executor().resources() (a command task has no executor: the task's own), and
# src/docker/docker.cpp turns them into --cpu-shares max(cpus * 1024, 2) and --memory
# max(mem, 32 MB); src/slave/containerizer/docker.cpp's update() skips containers "generated
# for a command task", so the executor's allowance never reaches the task's cgroup.
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
MIN_MEMORY_MB = 32
# Ends at once on SIGTERM (the trap interrupts `wait`): a task that stops promptly.
RUN_FOREVER = "trap 'exit 0' TERM; sleep 100000 & wait"
AGENT_RESOURCES = "cpus:2;mem:1536;disk:4096;ports:[31000-31099]"
LAUNCH_TIMEOUT = 120  # ACCEPT -> TASK_RUNNING on a loaded 2-core machine (docker run included)

CREATED: set[str] = set()  # container names of the tasks these tests launched


def remember_containers(sched: ms.Scheduler) -> None:
    for e in sched.events:
        cid = e.status.get("container_status", {}).get("container_id", {}).get("value")
        if cid:
            CREATED.add(container_name(cid))


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task_image() -> str:
    proc = subprocess.run(
        [str(REPO / "tools" / "build-task-image")], check=False, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"tools/build-task-image failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return IMAGE


@pytest.fixture(scope="module")
def cluster(zk_ensemble: Any, tmp_path_factory: pytest.TempPathFactory, task_image: str) -> Iterator[Cluster]:
    c = Cluster(zk_ensemble.connect_string, tmp_path_factory.mktemp("mesos-wl"))
    try:
        c.start_masters()
        for _attempt in range(2):
            agent = c.add_agent(AGENT_RESOURCES)
            c.wait_agent(agent)
        yield c
    finally:
        c.stop()
        remove_containers(CREATED)


_names = itertools.count(1)


@pytest.fixture
def scheduler(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Callable[..., ms.Scheduler]]:
    """Subscribed schedulers; torn down (TEARDOWN, then the connection dropped) after the test."""
    made: list[ms.Scheduler] = []

    def make(*, subscribe: bool = True, **info: Any) -> ms.Scheduler:
        info.setdefault("failover_timeout", 300.0)
        info.setdefault("checkpoint", True)
        name = f"wl-{request.node.name[:40]}-{next(_names)}"
        sched = ms.Scheduler(cluster.master_hostports, ms.framework_info(name, **info))
        made.append(sched)
        if subscribe:
            sched.subscribe(timeout=60)
        return sched

    yield make
    for sched in made:
        remember_containers(sched)
        if sched.connected:
            try:
                sched.teardown(expect=None)
            except OSError:
                pass
        sched.close()


def new_task_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fits(cpus: float, mem: float) -> Callable[[dict[str, Any]], bool]:
    return lambda o: ms.offer_scalar(o, "cpus") >= cpus and ms.offer_scalar(o, "mem") >= mem


def launch_running(
    sched: ms.Scheduler,
    image: str,
    prefix: str,
    *,
    cpus: float = 0.1,
    mem: float = 32,
    command: str = RUN_FOREVER,
    agent_id: str | None = None,
    **task: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Launch one docker task on the first fitting offer; (task info, its TASK_RUNNING status)."""
    task_id = new_task_id(prefix)
    since = sched.mark()

    def pred(o: dict[str, Any]) -> bool:
        return fits(cpus, mem)(o) and (agent_id is None or o["agent_id"]["value"] == agent_id)

    offers = sched.wait_offers(LAUNCH_TIMEOUT, since=0, pred=pred, what=f"an offer for {task_id}")
    offer = offers[0]
    info = ms.docker_task(task_id, offer["agent_id"]["value"], image, cpus=cpus, mem=mem, command=command, **task)
    sched.launch(offer, [info])
    # The offers it does not use go back (a framework holding offers starves the others).
    sched.decline_outstanding(refuse_seconds=0.5)
    status = sched.wait_update(task_id, {"TASK_RUNNING", *ms.TERMINAL_STATES, "TASK_LOST"}, LAUNCH_TIMEOUT, since=since)
    remember_containers(sched)
    assert status["state"] == "TASK_RUNNING", f"{task_id}: {status}"
    return info, status


def container_id_of(status: dict[str, Any]) -> str:
    cid = status.get("container_status", {}).get("container_id", {}).get("value")
    assert cid, f"TaskStatus without container_status.container_id (mesos.proto ContainerStatus): {status}"
    return cid


def no_terminal_update(sched: ms.Scheduler, task_id: str, since: int) -> None:
    bad = [s for s in sched.updates(task_id, since) if s.get("state") in ms.TERMINAL_STATES | {"TASK_LOST"}]
    assert not bad, f"{task_id} was disturbed: {bad}"


def state_task(cluster: Cluster, framework_id: str, task_id: str) -> dict | None:
    for fw in cluster.state().get("frameworks") or []:
        if fw.get("id") == framework_id:
            for t in fw.get("tasks") or []:
                if t.get("id") == task_id:
                    return t
    return None


# ------------------------------------------------------------------------------------------
# launching
# ------------------------------------------------------------------------------------------


def test_subscribe_stream_follows_the_docs(cluster: Cluster, scheduler: Callable[..., ms.Scheduler]) -> None:
    """docs/scheduler-http-api.md: subscribing through a non-leader gets 307 to the leader; the
    stream is chunked RecordIO with a Mesos-Stream-Id; SUBSCRIBED comes first and carries a
    heartbeat interval; HEARTBEATs follow; offers name this framework."""
    leader = cluster.wait_leader()
    standby = next(m for m in cluster.masters if m is not leader)
    sched = ms.Scheduler([standby.hostport], ms.framework_info("wl-redirect", failover_timeout=60))
    try:
        subscribed = sched.subscribe(timeout=60)
        assert sched.master == leader.hostport
        assert subscribed.index == 0
        assert sched.stream_id and len(sched.stream_id) == 36, sched.stream_id  # a UUID string
        interval = sched.heartbeat_interval
        assert interval is not None and interval > 0
        offers = sched.wait_offers(LAUNCH_TIMEOUT)
        assert all(o["framework_id"]["value"] == sched.framework_id for o in offers)
        assert all(o["hostname"] and o["agent_id"]["value"] for o in offers)
        sched.decline([o["id"]["value"] for o in offers], refuse_seconds=60)
        # HEARTBEATs come periodically, heartbeat_interval_seconds apart ("Network partitions").
        first = sched.wait(lambda e: e.type == "HEARTBEAT", interval + 5, "a HEARTBEAT")
        second = sched.wait(lambda e: e.type == "HEARTBEAT", interval + 5, "the next HEARTBEAT", since=first.index + 1)
        gap = second.received - first.received
        assert interval * 0.5 <= gap <= interval + 5, f"HEARTBEATs {gap:.1f}s apart, interval {interval}s"
        assert sched.heartbeats >= 2 and sched.last_heartbeat == second.received
        # A call sent to a standby is redirected to the leader (307, Location //leader).
        answer = sched.call({"type": "REVIVE"}, master=standby.hostport, expect=307)
        assert ms.redirect_target(answer.location or "", standby.hostport) == leader.hostport
        sched.teardown()
        why = sched.wait_ended(30)
        assert "closed" in why or "ended" in why, why
    finally:
        sched.close()


def test_launch_task_container_and_cgroup_limits(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """ACCEPT(LAUNCH) -> TASK_STARTING/RUNNING acknowledged; the container ``mesos-<ContainerID>``
    runs with the task's memory limit and CPU weight in its cgroup (v1 files, not docker inspect)."""
    sched = scheduler()
    cpus, mem = 0.5, 96
    since = sched.mark()
    info, running = launch_running(sched, task_image, "limits", cpus=cpus, mem=mem)
    task_id = info["task_id"]["value"]
    assert running["agent_id"]["value"] == info["agent_id"]["value"]
    assert running.get("source") in ("SOURCE_EXECUTOR", "SOURCE_AGENT"), running
    assert running.get("uuid"), "a TASK_RUNNING from the executor is sent reliably (has a uuid)"
    base64.b64decode(running["uuid"], validate=True)
    states = [s["state"] for s in sched.updates(task_id, since)]
    assert states[-1] == "TASK_RUNNING" and set(states) <= {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"}, states
    # Every update with a uuid was acknowledged (202), none without.
    wait_for(
        lambda: all((task_id, s["uuid"]) in sched.acknowledged for s in sched.updates(task_id, since) if s.get("uuid")),
        10,
        "acknowledgements",
    )
    assert not sched.errors, sched.errors

    cid = container_id_of(running)
    docker_id = running_container(container_name(cid))
    assert docker_id, f"no running container {container_name(cid)}: {docker('ps', '-a').stdout}"
    limit = cgroup_int("memory", docker_id, "memory.limit_in_bytes")
    shares = cgroup_int("cpu", docker_id, "cpu.shares")
    assert limit == max(mem, MIN_MEMORY_MB) * MIB, f"memory.limit_in_bytes {limit}"
    assert shares == max(int(cpus * CPU_SHARES_PER_CPU), MIN_CPU_SHARES), f"cpu.shares {shares}"

    # The leader's state lists the task as running on that agent, and mesos_master_info reports it.
    task = state_task(cluster, sched.framework_id or "", task_id)
    assert task and task["state"] == "TASK_RUNNING" and task["slave_id"] == info["agent_id"]["value"], task
    result = run_playbook(
        "mesos_master_info.yml", {"mesos_masters": cluster.master_hostports, "mesos_zk": cluster.zk_url}
    )
    assert not result.get("failed"), result
    ours = next(f for f in result["frameworks"]["list"] if f["id"] == sched.framework_id)
    assert ours["active"] is True and ours["connected"] is True and ours["tasks_running"] == 1, ours
    assert ours["tasks"] == {"TASK_RUNNING": 1}, ours
    assert result["tasks_running"] >= 1 and result["tasks"].get("TASK_RUNNING", 0) >= 1
    assert result["problems"] == [], result["problems"]

    # KILL (no kill policy): TASK_KILLED, the container stops.
    sched.kill(task_id, info["agent_id"]["value"])
    killed = sched.wait_update(task_id, ms.TERMINAL_STATES, 60, since=since)
    assert killed["state"] == "TASK_KILLED", killed
    wait_for(lambda: running_container(container_name(cid)) is None, 30, "the container to stop")


def test_health_check_failing_kills_and_reports_unhealthy(
    scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """docs/health-checks.md: a failing COMMAND health check sends TASK_RUNNING healthy=false
    (reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED) and, after consecutive_failures, the task is
    killed; a passing one reports healthy=true."""
    sched = scheduler()
    since = sched.mark()
    bad_hc = ms.command_health_check("exit 1", delay=0, interval=1, timeout=10, consecutive_failures=2, grace_period=0)
    good_hc = ms.command_health_check("true", delay=0, interval=1, timeout=10, consecutive_failures=2, grace_period=0)
    bad, _bad_agent = launch_running(sched, task_image, "unhealthy", health_check=bad_hc)
    good, _good_agent = launch_running(sched, task_image, "healthy", health_check=good_hc)
    bad_id, good_id = bad["task_id"]["value"], good["task_id"]["value"]

    unhealthy = sched.wait_update(bad_id, "TASK_RUNNING", 60, since=since, pred=lambda s: s.get("healthy") is False)
    assert unhealthy.get("reason") == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", unhealthy
    end = sched.wait_update(bad_id, ms.TERMINAL_STATES, 60, since=since)
    assert end["state"] == "TASK_KILLED", end
    assert end.get("healthy") is False, f"the terminal update says the task was unhealthy: {end}"
    healthy = sched.wait_update(good_id, "TASK_RUNNING", 60, since=since, pred=lambda s: s.get("healthy") is True)
    assert healthy.get("reason") == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", healthy
    no_terminal_update(sched, good_id, since)


def sandbox_stdout(cluster: Cluster, container_id: str) -> str:
    """The task's stdout in its sandbox (src/slave/paths.cpp: .../runs/<ContainerID>/stdout)."""
    for agent in cluster.agents:
        for path in Path(agent.work_dir).glob(f"slaves/*/frameworks/*/executors/*/runs/{container_id}/stdout"):
            return path.read_text(errors="replace")
    return ""


def task_output(cluster: Cluster, container_id: str) -> str:
    name = container_name(container_id)
    if any_container(name) is not None:
        logs = docker("logs", name, check=False)
        return logs.stdout + logs.stderr
    return sandbox_stdout(cluster, container_id)


def test_kill_with_grace_period_sigterm_then_sigkill(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """KillPolicy (mesos.proto): SIGTERM, then SIGKILL after the grace period (``docker stop
    --time`` for docker tasks). The task traps TERM, says so, and goes on: only SIGKILL ends it."""
    sched = scheduler(capabilities=("MULTI_ROLE", "TASK_KILLING_STATE"))
    since = sched.mark()
    command = "trap 'echo got-TERM' TERM; echo started; while :; do sleep 0.2; done"
    info, running = launch_running(sched, task_image, "grace", command=command, kill_grace=30)
    task_id = info["task_id"]["value"]
    cid = container_id_of(running)
    wait_for(lambda: "started" in task_output(cluster, cid), 30, "the task's first output")
    grace = 4.0
    sent = time.monotonic()
    sched.kill(task_id, info["agent_id"]["value"], grace_seconds=grace)  # overrides the task's 30 s
    killing = sched.wait_update(task_id, {"TASK_KILLING", *ms.TERMINAL_STATES}, 30, since=since)
    assert killing["state"] == "TASK_KILLING", f"TASK_KILLING_STATE framework: {killing}"
    killed = sched.wait_update(task_id, ms.TERMINAL_STATES, grace + 60, since=since)
    took = time.monotonic() - sent
    assert killed["state"] == "TASK_KILLED", killed
    assert took >= grace - 0.5, f"killed after {took:.1f}s, before the {grace}s grace period"
    assert took < grace + 30, f"killed only after {took:.1f}s (grace {grace}s)"
    out = task_output(cluster, cid)
    assert "got-TERM" in out, f"no SIGTERM seen by the task before SIGKILL: {out[-500:]!r}"
    assert running_container(container_name(cid)) is None


def test_updates_are_retried_until_acknowledged(scheduler: Callable[..., ms.Scheduler], task_image: str) -> None:
    """docs/scheduler-http-api.md ACKNOWLEDGE: updates with a uuid "are reliably retried until
    they are acknowledged". Without acknowledgements the first update (TASK_STARTING) comes again
    with the same uuid, and the next one waits behind it (src/slave/task_status_update_manager.cpp:
    one update in flight per task, retried from 10 s on); acknowledged, TASK_RUNNING follows."""
    sched = scheduler()
    sched.auto_acknowledge = False
    since = sched.mark()
    offer = sched.wait_offers(LAUNCH_TIMEOUT, pred=fits(0.1, 32))[0]
    task_id = new_task_id("manual-ack")
    sched.launch(offer, [ms.docker_task(task_id, offer["agent_id"]["value"], task_image, command=RUN_FOREVER)])
    first = sched.wait(
        lambda e: e.type == "UPDATE" and e.task_id == task_id and bool(e.status.get("uuid")),
        LAUNCH_TIMEOUT,
        "an update",
    )
    assert first.status["state"] == "TASK_STARTING", first.status
    again = sched.wait(
        lambda e: e.type == "UPDATE" and e.task_id == task_id and e.index > first.index,
        40,
        "the unacknowledged update again",
        since=first.index + 1,
    )
    assert again.status["state"] == "TASK_STARTING" and again.status["uuid"] == first.status["uuid"], again.status
    assert again.received - first.received >= 5, "retried sooner than upstream's 10 s minimum interval"
    sched.acknowledge(offer["agent_id"]["value"], task_id, first.status["uuid"])
    running = sched.wait_update(task_id, "TASK_RUNNING", 60, since=again.index + 1)
    sched.acknowledge(offer["agent_id"]["value"], task_id, running["uuid"])
    remember_containers(sched)
    states = [s["state"] for s in sched.updates(task_id, since)]
    assert states.index("TASK_RUNNING") > states.index("TASK_STARTING"), states


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


class Bystander:
    """A framework with one running task that every bad input must leave alone."""

    def __init__(self, sched: ms.Scheduler, info: dict[str, Any], running: dict[str, Any]) -> None:
        self.sched = sched
        self.task_id = info["task_id"]["value"]
        self.agent_id = info["agent_id"]["value"]
        self.container_id = container_id_of(running)
        self.since = sched.mark()


@pytest.fixture(scope="module")
def bystander(cluster: Cluster, task_image: str) -> Iterator[Bystander]:
    sched = ms.Scheduler(cluster.master_hostports, ms.framework_info("wl-bystander", failover_timeout=300))
    try:
        sched.subscribe(timeout=60)
        info, running = launch_running(sched, task_image, "bystander")
        # It needs no more offers: suppressed, it holds none that other frameworks need.
        sched.suppress()
        sched.decline_outstanding()
        yield Bystander(sched, info, running)
    finally:
        remember_containers(sched)
        if sched.connected:
            sched.teardown(expect=None)
        sched.close()


def test_malformed_calls_get_400_with_the_reason(scheduler: Callable[..., ms.Scheduler], bystander: Bystander) -> None:
    """src/master/http.cpp Master::Http::scheduler checks, in its order, with its texts."""
    sched = scheduler()
    master = sched.master or ""
    fid = ms.ident(sched.framework_id or "")
    sid = sched.stream_id
    checks: list[tuple[str, ms.Answer, str]] = [
        ("not JSON", ms.post(master, b"{not json", stream_id=sid), "Failed to parse body into JSON"),
        (
            "no Content-Type",
            ms.post(master, {"type": "REVIVE", "framework_id": fid}, stream_id=sid, content_type=None),
            "Expecting 'Content-Type' to be present",
        ),
        (
            "ACCEPT without accept",
            ms.post(master, {"type": "ACCEPT", "framework_id": fid}, stream_id=sid),
            "Expecting 'accept' to be present",
        ),
        (
            "no framework_id",
            ms.post(master, {"type": "KILL", "kill": {"task_id": ms.ident("x")}}, stream_id=sid),
            "Expecting 'framework_id' to be present",
        ),
        (
            "unknown call type",
            ms.post(master, {"type": "NOT_A_CALL", "framework_id": fid}, stream_id=sid),
            "Failed to convert JSON into Call protobuf",
        ),
        (
            "no stream id",
            ms.post(master, {"type": "REVIVE", "framework_id": fid}),
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
        ),
        (
            "unknown stream id",
            ms.post(master, {"type": "REVIVE", "framework_id": fid}, stream_id=str(uuid.uuid4())),
            "didn't match the stream ID currently associated with framework ID",
        ),
        (
            "unknown framework",
            ms.post(master, {"type": "REVIVE", "framework_id": ms.ident("no-such-framework")}, stream_id=sid),
            "Framework cannot be found",
        ),
        (
            "SUBSCRIBE with a stream id",
            ms.post(master, sched.subscribe_body(), stream_id=sid),
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
        ),
    ]
    wrong = [(what, a.status, a.body[:200]) for what, a, text in checks if a.status != 400 or text not in a.body]
    assert not wrong, f"expected 400 with upstream's text: {wrong}"
    # The subscription is untouched: calls still work.
    sched.revive()
    assert sched.connected


def test_task_beyond_the_offer_is_task_error(
    scheduler: Callable[..., ms.Scheduler], task_image: str, bystander: Bystander
) -> None:
    """src/master/validation.cpp: "Total resources ... is more than available ..." as TASK_ERROR."""
    sched = scheduler()
    offer = sched.wait_offers(LAUNCH_TIMEOUT, pred=fits(0.1, 32))[0]
    task_id = new_task_id("too-big")
    cpus = ms.offer_scalar(offer, "cpus") + 1
    sched.launch(offer, [ms.docker_task(task_id, offer["agent_id"]["value"], task_image, cpus=cpus)])
    err = sched.wait_update(task_id, ms.TERMINAL_STATES | {"TASK_LOST", "TASK_RUNNING"}, 60)
    assert err["state"] == "TASK_ERROR" and err.get("reason") == "REASON_TASK_INVALID", err
    assert err.get("source") == "SOURCE_MASTER" and "more than available" in err.get("message", ""), err


def test_negative_health_check_interval_is_task_error(
    scheduler: Callable[..., ms.Scheduler], task_image: str, bystander: Bystander
) -> None:
    """src/master/validation.cpp + src/common/validation.cpp validateHealthCheck: "Task uses
    invalid health check: Expecting 'interval_seconds' to be non-negative" as TASK_ERROR."""
    sched = scheduler()
    offer = sched.wait_offers(LAUNCH_TIMEOUT, pred=fits(0.1, 32))[0]
    task_id = new_task_id("bad-hc")
    hc = ms.command_health_check("true", interval=-1)
    sched.launch(offer, [ms.docker_task(task_id, offer["agent_id"]["value"], task_image, health_check=hc)])
    err = sched.wait_update(task_id, ms.TERMINAL_STATES | {"TASK_LOST", "TASK_RUNNING"}, 60)
    if err["state"] == "TASK_RUNNING":
        sched.kill(task_id, offer["agent_id"]["value"])
        sched.wait_update(task_id, ms.TERMINAL_STATES, 60)
    assert err["state"] == "TASK_ERROR" and err.get("reason") == "REASON_TASK_INVALID", err
    assert "Expecting 'interval_seconds' to be non-negative" in err.get("message", ""), err


def test_unknown_offer_is_task_lost(
    scheduler: Callable[..., ms.Scheduler], task_image: str, bystander: Bystander
) -> None:
    """src/master/master.cpp: tasks of an ACCEPT with invalid offers: TASK_LOST (TASK_DROPPED only
    for PARTITION_AWARE frameworks), REASON_INVALID_OFFERS."""
    sched = scheduler()
    task_id = new_task_id("ghost-offer")
    task = ms.docker_task(task_id, bystander.agent_id, task_image)
    sched.accept([f"no-such-offer-{uuid.uuid4().hex[:6]}"], [ms.launch([task])])
    lost = sched.wait_update(task_id, ms.TERMINAL_STATES | {"TASK_LOST", "TASK_RUNNING"}, 60)
    assert lost["state"] == "TASK_LOST" and lost.get("reason") == "REASON_INVALID_OFFERS", lost


def test_image_that_cannot_be_pulled_is_task_failed(
    scheduler: Callable[..., ms.Scheduler], bystander: Bystander
) -> None:
    """src/docker/docker.cpp: "Failed to run '<docker> ... pull <image>': exited with status ...;
    stderr='...'" reaches the scheduler as TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED."""
    sched = scheduler()
    offer = sched.wait_offers(LAUNCH_TIMEOUT, pred=fits(0.1, 32))[0]
    task_id = new_task_id("no-pull")
    image = f"orchestrator-platform/no-such-image-{uuid.uuid4().hex[:6]}:1"
    sched.launch(offer, [ms.docker_task(task_id, offer["agent_id"]["value"], image)])
    failed = sched.wait_update(task_id, ms.TERMINAL_STATES | {"TASK_LOST", "TASK_RUNNING"}, 180)
    assert failed["state"] == "TASK_FAILED", failed
    assert failed.get("reason") == "REASON_CONTAINER_LAUNCH_FAILED", failed
    message = failed.get("message", "")
    assert "pull" in message and image in message, failed


@pytest.mark.parametrize("partition_aware", [False, True], ids=["plain", "partition-aware"])
def test_reconciling_unknown_tasks(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], bystander: Bystander, partition_aware: bool
) -> None:
    """docs/reconciliation.md + src/master/master.cpp: a task unknown on a registered agent is
    TASK_GONE (TASK_LOST without PARTITION_AWARE); with an unknown agent TASK_UNKNOWN (LOST)."""
    caps = ("MULTI_ROLE", "PARTITION_AWARE") if partition_aware else ("MULTI_ROLE",)
    sched = scheduler(capabilities=caps)
    gone, unknown = new_task_id("never-launched"), new_task_id("nowhere")
    on_agent = sched.reconcile_until([(gone, bystander.agent_id)], 30)[gone]
    assert on_agent["state"] == ("TASK_GONE" if partition_aware else "TASK_LOST"), on_agent
    assert on_agent.get("message") == "Reconciliation: Task is unknown to the agent", on_agent
    nowhere = sched.reconcile_until([(unknown, "no-such-agent-S99")], 30)[unknown]
    assert nowhere["state"] == ("TASK_UNKNOWN" if partition_aware else "TASK_LOST"), nowhere
    assert nowhere.get("message") == "Reconciliation: Task is unknown", nowhere
    answers = {gone: on_agent, unknown: nowhere}
    assert {a.get("reason") for a in answers.values()} == {"REASON_RECONCILIATION"}, answers
    assert all(a.get("source") == "SOURCE_MASTER" and "uuid" not in a for a in answers.values()), answers


def test_bystander_undisturbed_by_bad_input(bystander: Bystander) -> None:
    """After every bad input above: no update for the bystander, still RUNNING when reconciled
    (reason REASON_RECONCILIATION, no uuid: not to be acknowledged), its container up."""
    sched = bystander.sched
    no_terminal_update(sched, bystander.task_id, bystander.since)
    answers = sched.reconcile_until([(bystander.task_id, bystander.agent_id)], 60)
    answer = answers[bystander.task_id]
    assert answer["state"] == "TASK_RUNNING" and answer.get("reason") == "REASON_RECONCILIATION", answer
    assert "uuid" not in answer, answer
    assert running_container(container_name(bystander.container_id)) is not None
    assert sched.connected and not sched.errors, (sched.describe(), sched.errors)


# ------------------------------------------------------------------------------------------
# several frameworks, offers
# ------------------------------------------------------------------------------------------


def test_two_frameworks_both_get_offers(scheduler: Callable[..., ms.Scheduler], task_image: str) -> None:
    """Each framework gets offers; DECLINE with a filter passes the resources on; SUPPRESS and
    REVIVE are accepted; both can run tasks side by side."""
    first, second = scheduler(), scheduler()
    seen: dict[str, set[str]] = {first.framework_id or "": set(), second.framework_id or "": set()}
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    marks = {id(first): 0, id(second): 0}
    while not all(seen.values()):
        assert time.monotonic() < deadline, f"offers seen per framework: {seen}"
        for sched in (first, second):
            if seen[sched.framework_id or ""]:
                continue
            try:
                event = sched.wait(lambda e: e.type == "OFFERS", 2, "offers", since=marks[id(sched)])
            except AssertionError:
                continue
            marks[id(sched)] = event.index + 1
            ids = [o["id"]["value"] for o in event.offers]
            seen[sched.framework_id or ""].update(o["agent_id"]["value"] for o in event.offers)
            sched.decline(ids, refuse_seconds=1)
    first.suppress()
    first.revive()
    a, _a_agent = launch_running(first, task_image, "fw1")
    b, _b_agent = launch_running(second, task_image, "fw2")
    assert a["task_id"] != b["task_id"]


# ------------------------------------------------------------------------------------------
# failures: agent restart, master failover, scheduler failover (these restart processes)
# ------------------------------------------------------------------------------------------


def test_agent_restart_recovers_running_task(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """A checkpointing framework's task survives an agent restart (SIGTERM, same --work_dir):
    same container, same agent ID, still RUNNING for the master and in reconciliation."""
    sched = scheduler(checkpoint=True)
    agent = cluster.agents[0]
    before = cluster.wait_agent(agent)
    since = sched.mark()
    info, running = launch_running(sched, task_image, "recover", agent_id=before["id"])
    task_id = info["task_id"]["value"]
    cid = container_id_of(running)
    docker_id = running_container(container_name(cid))
    assert docker_id

    agent.stop()
    wait_for(lambda: cluster.agent_record(agent) is None, 30, "the master to see the agent gone")
    agent.start()
    after = cluster.wait_agent(agent)
    assert after["id"] == before["id"], (before["id"], after["id"])
    assert running_container(container_name(cid)) == docker_id, "the task's container was replaced or stopped"
    answers = sched.reconcile_until([(task_id, before["id"])], 60)
    task = state_task(cluster, sched.framework_id or "", task_id)
    agent_state = http(agent.hostport, "/state")[2]
    agent_tasks = [
        (t.get("id"), t.get("state"))
        for fw in (agent_state.get("frameworks") or [] if isinstance(agent_state, dict) else [])
        for ex in fw.get("executors") or []
        for t in ex.get("tasks") or []
    ]
    # The re-registered agent reports the task's latest state (RUNNING): the master's view and
    # the reconciliation answer (docs/reconciliation.md: "the latest state") must say so.
    assert answers[task_id]["state"] == "TASK_RUNNING", (answers, task, agent_tasks)
    assert task and task["state"] == "TASK_RUNNING", (task, agent_tasks)
    no_terminal_update(sched, task_id, since)


def test_scheduler_failover_to_a_second_instance(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """docs/high-availability-framework-guide.md: a new scheduler instance subscribes with the
    FrameworkID while the old one is still connected: the old one gets ERROR "Framework failed
    over" (src/master/master.cpp failoverFramework) and its stream id is no longer accepted;
    the new one gets SUBSCRIBED with the same ID and the tasks."""
    old = scheduler()
    since = old.mark()
    info, running = launch_running(old, task_image, "takeover")
    task_id, agent_id = info["task_id"]["value"], info["agent_id"]["value"]
    framework = dict(old.framework, id=ms.ident(old.framework_id or ""))
    new = ms.Scheduler(cluster.master_hostports, framework)
    try:
        subscribed = new.subscribe(timeout=60)
        assert subscribed.body["subscribed"]["framework_id"]["value"] == old.framework_id
        error = old.wait(lambda e: e.type == "ERROR", 30, "ERROR on the old instance's stream", since=since)
        assert error.body["error"]["message"] == "Framework failed over", error.body
        answer = old.revive(expect=None)
        assert answer.status == 400 and "didn't match the stream ID" in answer.body, answer
        answers = new.reconcile_until([(task_id, agent_id)], 60)
        assert answers[task_id]["state"] == "TASK_RUNNING", answers
        no_terminal_update(old, task_id, since)
        assert running_container(container_name(container_id_of(running))) is not None
        new.teardown()
    finally:
        remember_containers(new)
        new.close()


def test_leader_killed_tasks_keep_running_framework_resubscribes(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """docs/high-availability-framework-guide.md: the leading master dies; tasks keep running;
    the scheduler re-subscribes with the same FrameworkID to the new leader and reconciles."""
    sched = scheduler(failover_timeout=600)
    since = sched.mark()
    info, running = launch_running(sched, task_image, "ha")
    task_id, agent_id = info["task_id"]["value"], info["agent_id"]["value"]
    cid = container_id_of(running)
    framework_id = sched.framework_id
    old = cluster.wait_leader()
    assert sched.master == old.hostport
    old.kill()
    try:
        why = sched.wait_ended(30)
        assert why, why
        new = cluster.wait_leader(60)
        assert new is not old
        for agent in cluster.agents:
            cluster.wait_agent(agent, 90)
        resubscribed = sched.subscribe(timeout=60)
        assert sched.framework_id == framework_id
        assert resubscribed.body["subscribed"]["framework_id"]["value"] == framework_id
        assert sched.master == new.hostport
        answers = sched.reconcile_until([(task_id, agent_id)], 90)
        assert answers[task_id]["state"] == "TASK_RUNNING", answers
        # Implicit reconciliation answers for it too (docs/reconciliation.md).
        mark = sched.mark()
        sched.reconcile()
        implicit = sched.wait_update(
            task_id, "TASK_RUNNING", 30, since=mark, pred=lambda s: s.get("reason") == "REASON_RECONCILIATION"
        )
        assert "uuid" not in implicit
        no_terminal_update(sched, task_id, since)
        assert running_container(container_name(cid)) is not None
    finally:
        old.start()
        cluster.wait_leader()


def framework_record(cluster: Cluster, framework_id: str) -> tuple[str, dict] | None:
    state = cluster.state()
    for key in ("frameworks", "completed_frameworks"):
        for fw in state.get(key) or []:
            if fw.get("id") == framework_id:
                return key, fw
    return None


def test_failover_timeout_expiry_kills_tasks(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """docs/scheduler-http-api.md "Disconnections": a scheduler that drops its connection is
    disconnected; its tasks run on for failover_timeout, then the master removes the framework
    and kills its tasks; re-subscribing afterwards is refused ("Framework has been removed")."""
    timeout = 8.0
    sched = scheduler(failover_timeout=timeout)
    info, running = launch_running(sched, task_image, "orphan")
    task_id = info["task_id"]["value"]
    cid = container_id_of(running)
    framework_id = sched.framework_id or ""
    sched.close()
    dropped = time.monotonic()

    def disconnected() -> dict | None:
        found = framework_record(cluster, framework_id)
        return found[1] if found and found[0] == "frameworks" and found[1].get("connected") is False else None

    fw = wait_for(disconnected, timeout, "the master to mark the framework disconnected")
    assert fw.get("active") is False, fw
    if time.monotonic() - dropped < timeout - 1:
        assert running_container(container_name(cid)) is not None, "tasks must outlive the scheduler for a while"

    wait_for(lambda: running_container(container_name(cid)) is None, timeout + 60, "the task's container to stop")
    assert time.monotonic() - dropped >= timeout - 1, "killed before the failover timeout"
    found = wait_for(
        lambda: (r := framework_record(cluster, framework_id)) and r[0] == "completed_frameworks" and r,
        30,
        "the framework among completed_frameworks",
    )
    states = {t.get("id"): t.get("state") for t in found[1].get("completed_tasks") or []}
    assert states.get(task_id) == "TASK_KILLED", found[1]

    with pytest.raises(ms.SubscribeError, match="Framework has been removed"):
        sched.subscribe(timeout=30)


def test_teardown_kills_tasks_and_closes_the_stream(
    cluster: Cluster, scheduler: Callable[..., ms.Scheduler], task_image: str
) -> None:
    """TEARDOWN (docs/scheduler-http-api.md): tasks killed, framework removed, connections closed."""
    sched = scheduler()
    info, running = launch_running(sched, task_image, "teardown")
    cid = container_id_of(running)
    framework_id = sched.framework_id or ""
    sched.teardown()
    sched.wait_ended(30)
    wait_for(lambda: running_container(container_name(cid)) is None, 60, "the task's container to stop")
    found = wait_for(
        lambda: (r := framework_record(cluster, framework_id)) and r[0] == "completed_frameworks" and r,
        30,
        "the framework among completed_frameworks",
    )
    assert info["task_id"]["value"] in {t.get("id") for t in found[1].get("completed_tasks") or []}
    answer = ms.post(
        sched.master or "", {"type": "REVIVE", "framework_id": ms.ident(framework_id)}, stream_id=sched.stream_id
    )
    assert answer.status in (400, 403), answer
    assert http(cluster.wait_leader().hostport, "/health")[0] == 200
