"""Failures around the Mesos protocol double's master: frameworks, agents and masters that go.

Pins upstream apache/mesos behaviour (docs/high-availability-framework-guide.md,
docs/reconciliation.md, src/master/master.cpp failoverFramework, exited,
frameworkFailoverTimeout, removeFramework, _reregisterSlave, _removeSlave, markUnreachable)
with the client of mesos_scheduler_client.py: scheduler failover and removal, a new leader
learning frameworks and tasks, lost and unreachable agents, the channel messages to agents,
high availability through the real ZooKeeper ensemble, and DOCKER tasks end to end through
master and agent doubles on the host's engine.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from ansible_collections.orchestrator.platform.tests.doubles.mesos_scheduler_client import (
    PARTITION_AWARE,
    EventStream,
    FakeAgent,
    Framework,
    acknowledge_through,
    agent_channel,
    container_running,
    docker_launch,
    launch,
    metrics,
    metrics_of,
    register_fake_agent,
    scheduler_call,
    start_agent,
)
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import (
    Proc,
    _leader,
    agent_args,
    get_json,
    master_args,
    request,
    v1,
    wait_for,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

# test_mesos_double put the double's package on sys.path.

REFERENCE = Path(os.environ.get("MESOS_REFERENCE_DIR", "/work/shared/reference/mesos/api"))


def test_framework_failover_and_removal(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, {"failover_timeout": 3600})
    fw.offers()
    # A second subscription with the same id takes over: the old stream hears it and ends.
    old = fw.stream
    fw.stream = fw.subscribe()
    assert old.wait_type("ERROR")["error"]["message"] == "Framework failed over"
    wait_for(lambda: old.ended is not None, 10, "the old stream's end")
    assert fw.stream.events[0]["subscribed"]["framework_id"] == {"value": fw.id}
    assert fw.call("REVIVE", stream_id=old.stream_id)[0] == 400
    fw.offers()  # the failed-over framework is offered again
    # The scheduler goes away: disconnected, kept for its failover_timeout.
    fw.stream.close()
    wait_for(lambda: metrics(master)["master/frameworks_disconnected"] == 1.0, 10, "disconnection")
    model = get_json(master.port, "/master/state")["frameworks"][0]
    assert (model["active"], model["connected"], model["offers"]) == (False, False, [])
    assert scheduler_call(master.port, {"type": "REVIVE", "framework_id": {"value": fw.id}}) == (
        403,
        "Framework is not subscribed",
    )
    fw.stream = fw.subscribe()
    assert metrics(master)["master/frameworks_connected"] == 1.0
    model = get_json(master.port, "/master/state")["frameworks"][0]
    assert model["id"] == fw.id and "reregistered_time" in model
    # A short failover_timeout runs out: the framework is removed and cannot come back.
    brief = Framework(master.port, {"name": "brief", "failover_timeout": 0.5})
    brief.stream.close()
    wait_for(
        lambda: [f["id"] for f in get_json(master.port, "/master/state")["completed_frameworks"]] == [brief.id],
        10,
        "removal after the failover timeout",
    )
    completed = get_json(master.port, "/master/frameworks")["completed_frameworks"][0]
    assert completed["active"] is False and completed["unregistered_time"] > 0
    stream = EventStream(
        master.port,
        {"type": "SUBSCRIBE", "framework_id": brief.info["id"], "subscribe": {"framework_info": brief.info}},
    )
    assert stream.wait_type("ERROR")["error"]["message"] == "Framework has been removed"
    # TEARDOWN: 202, the stream ends, the framework is completed.
    assert fw.call("TEARDOWN") == (202, "")
    wait_for(lambda: fw.stream.ended is not None, 10, "the stream to end")
    state = get_json(master.port, "/master/state")
    assert state["frameworks"] == [] and {f["id"] for f in state["completed_frameworks"]} == {fw.id, brief.id}
    assert metrics(master)["master/outstanding_offers"] == 0.0


def test_new_leader_learns_tasks_from_agents_and_frameworks_from_resubscription(master: Proc) -> None:
    # Master::_reregisterSlave with the agent's tasks and frameworks; recoverFramework; the
    # framework re-subscribing with its FrameworkID after a master failover (no "failed over").
    old_master = "0ld-master"
    framework_id = f"{old_master}-0000"
    agent_id = f"{old_master}-S3"
    info = {
        "user": "nobody",
        "name": "survivor",
        "id": {"value": framework_id},
        "failover_timeout": 3600.0,
        "checkpoint": True,
        **PARTITION_AWARE,
    }
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "role": "*"},
    ]
    task = {
        "name": "web",
        "task_id": {"value": "web-1"},
        "framework_id": {"value": framework_id},
        "agent_id": {"value": agent_id},
        "state": "TASK_RUNNING",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*", "allocation_info": {"role": "*"}}
        ],
        "statuses": [{"task_id": {"value": "web-1"}, "state": "TASK_RUNNING", "timestamp": 1.0}],
    }
    port = free_port()  # nothing listens there: the master's messages to this agent fail and are logged
    answer = agent_channel(
        master,
        "register",
        {
            "info": {"hostname": "127.0.0.1", "port": port, "id": {"value": agent_id}, "resources": resources},
            "pid": f"slave(1)@127.0.0.1:{port}",
            "version": "1.11.0",
            "capabilities": [],
            "incarnation": "x",
            "tasks": [task],
            "frameworks": [info],
        },
    )
    assert answer["id"] == agent_id
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["id"], model["recovered"], model["active"], model["connected"]) == (framework_id, True, False, False)
    assert [(t["id"], t["state"], t["slave_id"]) for t in model["tasks"]] == [("web-1", "TASK_RUNNING", agent_id)]
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/cpus_used"], m["master/frameworks_disconnected"]) == (1.0, 0.5, 1.0)
    # The framework comes back with its id: SUBSCRIBED, the same id, its task with it.
    fw = Framework(master.port, dict(info))
    assert fw.id == framework_id and fw.stream.types().count("ERROR") == 0
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["recovered"], model["active"], model["connected"]) == (False, True, True)
    # Implicit reconciliation: the latest state of every task, from the master.
    assert fw.call("RECONCILE", {"tasks": []}) == (202, "")
    wait_for(lambda: fw.stream.updates("web-1"), 10, "implicit reconciliation")
    (status,) = fw.stream.updates("web-1")
    assert (status["state"], status["reason"], status["agent_id"]["value"]) == (
        "TASK_RUNNING",
        "REASON_RECONCILIATION",
        agent_id,
    )
    assert status["message"] == "Reconciliation: Latest task state" and "uuid" not in status
    # Explicit: a task on an agent of the old master that has not re-registered yet gets no
    # answer (reconciliation.md: retry later); unknown on a registered agent: TASK_GONE.
    tasks = [
        {"task_id": {"value": "elsewhere"}, "agent_id": {"value": f"{old_master}-S9"}},
        {"task_id": {"value": "gone"}, "agent_id": {"value": agent_id}},
    ]
    assert fw.call("RECONCILE", {"tasks": tasks}) == (202, "")
    wait_for(lambda: fw.stream.updates("gone"), 10, "the explicit answer")
    assert fw.stream.updates("gone")[0]["state"] == "TASK_GONE"
    assert fw.stream.updates("elsewhere") == []  # answered in order: none was sent
    # A status update from the agent is forwarded with its uuid; the acknowledgement of the
    # terminal one completes the task.
    uuid = "8Zf4FG3nSXq5a6J0u0Xq2A=="
    finished = {
        "task_id": {"value": "web-1"},
        "state": "TASK_FINISHED",
        "source": "SOURCE_EXECUTOR",
        "uuid": uuid,
        "timestamp": time.time(),
    }
    agent_channel(master, "status_update", {"id": agent_id, "update": {"framework_id": info["id"], "status": finished}})
    wait_for(lambda: len(fw.stream.updates("web-1")) == 2, 10, "the forwarded update")
    forwarded = fw.stream.updates("web-1")[-1]
    assert (forwarded["state"], forwarded["uuid"], forwarded["agent_id"]) == (
        "TASK_FINISHED",
        uuid,
        {"value": agent_id},
    )
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"][0]["state"] == "TASK_FINISHED"
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/tasks_finished"], m["master/cpus_used"]) == (0.0, 1.0, 0.0)
    ack = {"agent_id": {"value": agent_id}, "task_id": {"value": "web-1"}, "uuid": uuid}
    assert fw.call("ACKNOWLEDGE", ack) == (202, "")
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and [t["id"] for t in model["completed_tasks"]] == ["web-1"]
    got = v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]
    assert "tasks" not in got and got["completed_tasks"][0]["status_update_uuid"] == uuid


def test_agent_removal_fails_its_tasks_and_tells_frameworks(master: Proc) -> None:
    # _removeSlave (here: its machine brought DOWN): TASK_LOST "Agent <host> removed: <cause>",
    # REASON_SLAVE_REMOVED, and sendSlaveLost's FAILURE event to every connected framework.
    fw = Framework(master.port, {"failover_timeout": 60.0})
    agent_id = "0ld-master-S1"
    task = {
        "name": "db",
        "task_id": {"value": "db-1"},
        "framework_id": {"value": fw.id},
        "agent_id": {"value": agent_id},
        "state": "TASK_RUNNING",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"}],
    }
    register_fake_agent(master, agent_id, [task], [fw.info])
    assert metrics(master)["master/tasks_running"] == 1.0
    schedule = {
        "windows": [
            {
                "machine_ids": [{"hostname": "127.0.0.1", "ip": "127.0.0.1"}],
                "unavailability": {"start": {"nanoseconds": 1}},
            }
        ]
    }
    assert request(master.port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert request(master.port, "POST", "/master/machine/down", schedule["windows"][0]["machine_ids"])[0] == 200
    failure = fw.stream.wait_type("FAILURE")
    assert failure["failure"] == {"agent_id": {"value": agent_id}}
    wait_for(lambda: fw.stream.updates("db-1"), 10, "the lost task's update")
    (status,) = fw.stream.updates("db-1")
    assert (status["state"], status["reason"], status["source"], status["message"]) == (
        "TASK_LOST",
        "REASON_SLAVE_REMOVED",
        "SOURCE_MASTER",
        "Agent 127.0.0.1 removed: Operator initiated 'Machine DOWN'",
    )
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/tasks_lost"], m["master/cpus_used"]) == (0.0, 1.0, 0.0)
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and model["completed_tasks"][0]["state"] == "TASK_LOST"


def test_unreachable_agent_tasks_are_unreachable_or_lost(procs: list[Proc], tmp_path: Path) -> None:
    # SlaveObserver's health check fails -> markUnreachable -> __removeSlave: partition-aware
    # frameworks see TASK_UNREACHABLE (with unreachable_time), the others TASK_LOST; both
    # REASON_SLAVE_REMOVED; reconciliation then answers TASK_UNREACHABLE / TASK_LOST.
    port = free_port()
    args = master_args(
        port, tmp_path, "--registry=in_memory", "--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=1"
    )
    own = Proc("master", args).wait_http()
    procs.append(own)
    aware = Framework(port, {"name": "aware", "failover_timeout": 60.0, **PARTITION_AWARE})
    plain = Framework(port, {"name": "plain", "failover_timeout": 60.0})
    agent_id = "0ld-master-S7"

    def task(fw: Framework, task_id: str) -> dict:
        return {
            "name": task_id,
            "task_id": {"value": task_id},
            "framework_id": {"value": fw.id},
            "agent_id": {"value": agent_id},
            "state": "TASK_RUNNING",
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"}],
        }

    register_fake_agent(own, agent_id, [task(aware, "a-1"), task(plain, "p-1")], [aware.info, plain.info])
    # The fake agent never pings.
    wait_for(lambda: aware.stream.updates("a-1"), 15, "unreachability")
    (a_status,) = aware.stream.updates("a-1")
    wait_for(lambda: plain.stream.updates("p-1"), 10, "the other framework's update")
    (p_status,) = plain.stream.updates("p-1")
    assert (a_status["state"], a_status["reason"]) == ("TASK_UNREACHABLE", "REASON_SLAVE_REMOVED")
    assert (p_status["state"], p_status["reason"]) == ("TASK_LOST", "REASON_SLAVE_REMOVED")
    assert a_status["unreachable_time"]["nanoseconds"] > 0
    assert aware.stream.wait_type("FAILURE")["failure"] == {"agent_id": {"value": agent_id}}
    frameworks = {f["name"]: f for f in get_json(port, "/master/state")["frameworks"]}
    assert [t["id"] for t in frameworks["aware"]["unreachable_tasks"]] == ["a-1"]
    assert frameworks["aware"]["tasks"] == [] and frameworks["plain"]["completed_tasks"][0]["id"] == "p-1"
    m = metrics(own)
    assert (m["master/tasks_unreachable"], m["master/tasks_lost"], m["master/tasks_running"]) == (1.0, 1.0, 0.0)
    # Reconciliation of a task on the unreachable agent that the master does not know.
    ask = [{"task_id": {"value": "other"}, "agent_id": {"value": agent_id}}]
    for fw, state in ((aware, "TASK_UNREACHABLE"), (plain, "TASK_LOST")):
        assert fw.call("RECONCILE", {"tasks": ask}) == (202, "")
        wait_for(lambda fw=fw: fw.stream.updates("other"), 10, "the answer")
        (status,) = fw.stream.updates("other")
        assert (status["state"], status["message"]) == (state, "Reconciliation: Task is unreachable")
        assert status["unreachable_time"] == a_status["unreachable_time"]
    # Unreachable tasks are not the framework's tasks any more (Framework::getTask): implicit
    # reconciliation leaves them out, explicit reconciliation answers from the agent's state.
    assert aware.call("RECONCILE", {"tasks": [{"task_id": {"value": "a-1"}, "agent_id": {"value": agent_id}}]}) == (
        202,
        "",
    )
    wait_for(lambda: len(aware.stream.updates("a-1")) == 2, 10, "explicit reconciliation")
    status = aware.stream.updates("a-1")[-1]
    assert (status["state"], status["message"]) == ("TASK_UNREACHABLE", "Reconciliation: Task is unreachable")


def test_channel_messages_to_the_agent(master: Proc) -> None:
    fw = Framework(master.port, {"failover_timeout": 60.0, "checkpoint": True})
    agent = FakeAgent(master, "0ld-master-S5")
    try:
        agent.register([], [])
        (offer,) = fw.offers()
        kill_policy = {"grace_period": {"nanoseconds": 2000000000}}
        accept = launch(offer, "t1", kill_policy=kill_policy, labels={"labels": [{"key": "k", "value": "v"}]})
        assert fw.call("ACCEPT", accept) == (202, "")
        # RunTaskMessage: the framework (with its id) and the TaskInfo, resources allocated to the role.
        (run,) = agent.wait("run_task")
        assert run["master_id"] == get_json(master.port, "/master/state")["id"]
        assert run["framework"]["id"] == {"value": fw.id} and run["framework"]["name"] == "test-framework"
        task = run["task"]
        assert task["task_id"] == {"value": "t1"} and task["agent_id"] == {"value": agent.agent_id}
        assert task["kill_policy"] == kill_policy and task["labels"]["labels"] == [{"key": "k", "value": "v"}]
        assert {r["name"]: r["allocation_info"] for r in task["resources"]} == {
            "cpus": {"role": "*"},
            "mem": {"role": "*"},
        }
        # The agent's updates, forwarded; ACKNOWLEDGE goes back to the agent.
        uuid_running = "Ax5kQ2X9TdK0m1b3c4d5eA=="  # 16 bytes, a version-4 UUID
        status = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR"}
        update = {"framework_id": {"value": fw.id}, "status": {**status, "uuid": uuid_running}}
        agent_channel(master, "status_update", {"id": agent.agent_id, "update": update})
        wait_for(lambda: fw.stream.updates("t1"), 10, "the forwarded update")
        ack = {"agent_id": {"value": agent.agent_id}, "task_id": {"value": "t1"}, "uuid": uuid_running}
        assert fw.call("ACKNOWLEDGE", ack) == (202, "")
        (acked,) = agent.wait("acknowledge")
        assert {k: acked[k] for k in ("framework_id", "task_id", "uuid")} == {
            "framework_id": {"value": fw.id},
            "task_id": {"value": "t1"},
            "uuid": uuid_running,
        }
        # KILL with a kill policy: KillTaskMessage.
        override = {"grace_period": {"nanoseconds": 1}}
        assert fw.call("KILL", {"task_id": {"value": "t1"}, "kill_policy": override}) == (202, "")
        (kill,) = agent.wait("kill_task")
        assert (kill["framework_id"], kill["task_id"], kill["kill_policy"]) == (
            {"value": fw.id},
            {"value": "t1"},
            override,
        )
        # A kill the agent misses while disconnected goes out again when it re-registers.
        agent_channel(master, "disconnect", {"id": agent.agent_id})
        assert fw.call("KILL", {"task_id": {"value": "t1"}}) == (202, "")
        running = {"framework_id": {"value": fw.id}, "task_id": {"value": "t1"}, "name": "t1", "state": "TASK_RUNNING"}
        agent.register([{**running, "agent_id": {"value": agent.agent_id}, "resources": []}], [fw.info])
        kills = agent.wait("kill_task", 2)
        assert kills[-1]["task_id"] == {"value": "t1"} and "kill_policy" not in kills[-1]
        # TEARDOWN: ShutdownFrameworkMessage to every agent.
        assert fw.call("TEARDOWN") == (202, "")
        (shutdown,) = agent.wait("shutdown_framework")
        assert shutdown["framework_id"] == {"value": fw.id}
    finally:
        agent.close()


def test_high_availability_redirects_and_master_failover(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:
    # docs/high-availability-framework-guide.md: a non-leader answers 307 to the leader; after the
    # leader dies the framework subscribes to the new one with its FrameworkID and carries on.
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    for port in ports:
        args = master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=1", "--zk_session_timeout=2secs")
        procs.append(Proc("master", args).wait_http())
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    follower = next(p for p in ports if p != leader)
    wait_for(lambda: request(follower, "GET", "/master/redirect")[0] == 307, 10, "the follower to see the leader")
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "ha", "failover_timeout": 3600}}}
    status, headers, _unused = request(
        follower, "POST", "/api/v1/scheduler", sub, {"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert (status, headers["Location"]) == (307, f"//127.0.0.1:{leader}/api/v1/scheduler")
    wait_for(lambda: metrics_of(leader)["registrar/log/recovered"] == 1.0, 10, "the registry to recover")
    aport = free_port()
    agent = Proc("agent", agent_args(aport, zk_url, tmp_path / "ha-agent", "--zk_session_timeout=2secs")).wait_http()
    procs.append(agent)
    fw = Framework(leader, {"name": "ha", "failover_timeout": 3600})
    (offer,) = fw.offers()
    # The leader dies: the stream breaks; the framework finds the new leader and re-subscribes
    # with its FrameworkID (the new master has never seen it: recoverFramework).
    next(p for p in procs if p.port == leader).kill()
    wait_for(lambda: fw.stream.ended is not None, 10, "the stream to break")
    new_leader = wait_for(lambda: _leader([follower]), 30, "the new leader")
    wait_for(lambda: metrics_of(new_leader)["registrar/log/recovered"] == 1.0, 10, "the new registry")
    fw.port = new_leader
    fw.stream = fw.subscribe()
    assert fw.stream.events[0]["subscribed"]["framework_id"] == {"value": fw.id}
    assert fw.stream.types().count("ERROR") == 0
    (again,) = fw.offers(timeout=30)  # once the agent has re-registered with the new leader
    assert again["agent_id"] == offer["agent_id"] and again["id"] != offer["id"]
    (model,) = get_json(new_leader, "/master/state")["frameworks"]
    assert (model["id"], model["active"], model["connected"]) == (fw.id, True, True)
    # A master elected without a recovered registry answers 503 (quorum 2, alone).
    port = free_port()
    lonely_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    lonely = Proc("master", master_args(port, tmp_path, f"--zk={lonely_url}", "--quorum=2")).wait_http()
    procs.append(lonely)
    wait_for(lambda: _leader([port]), 20, "the lonely master's election")
    assert scheduler_call(port, sub) == (503, "Master has not finished recovery")


def test_docker_task_lifecycle_through_the_master(
    task_image: str,
    master: Proc,
    procs: list[Proc],
    tmp_path: Path,
) -> None:
    agent_id = start_agent(master, procs, tmp_path / "a1", "--containerizers=docker,mesos")
    capabilities = {"capabilities": [{"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}]}
    fw = Framework(master.port, {"name": "e2e", "checkpoint": True, "failover_timeout": 3600.0, **capabilities})
    (offer,) = fw.offers()
    assert fw.call("ACCEPT", docker_launch(offer, "sleeper", task_image)) == (202, "")
    assert [t["state"] for t in get_json(master.port, "/master/tasks")["tasks"]] in (
        ["TASK_STAGING"],
        ["TASK_STARTING"],
        ["TASK_RUNNING"],
    )
    running = acknowledge_through(fw, "sleeper", "TASK_RUNNING")
    assert running["source"] == "SOURCE_EXECUTOR" and running["agent_id"] == {"value": agent_id}
    assert container_running(running)
    # The master's view: the task, its statuses, used resources, metrics.
    wait_for(
        lambda: get_json(master.port, "/master/tasks")["tasks"][0]["state"] == "TASK_RUNNING",
        10,
        "RUNNING at the master",
    )
    m = metrics(master)
    assert (m["master/tasks_running"], m["master/cpus_used"], m["master/mem_used"]) == (1.0, 0.5, 64.0)
    slave = get_json(master.port, "/master/slaves")["slaves"][0]
    assert (slave["used_resources"]["cpus"], slave["used_resources"]["mem"]) == (0.5, 64.0)
    summary = get_json(master.port, "/master/state-summary")
    (fw_summary,) = summary["frameworks"]
    assert (fw_summary["id"], fw_summary["TASK_RUNNING"], fw_summary["slave_ids"]) == (fw.id, 1, [agent_id])
    assert "tasks" not in fw_summary and "used_resources" in fw_summary
    (slave_summary,) = summary["slaves"]
    assert (slave_summary["TASK_RUNNING"], slave_summary["framework_ids"]) == (1, [fw.id])
    got = v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["tasks"][0]
    assert (got["state"], got["status_update_state"], got["status_update_uuid"]) == (
        "TASK_RUNNING",
        "TASK_RUNNING",
        running["uuid"],
    )
    assert got["container"]["docker"]["image"] == task_image
    # GET_STATE against upstream's example: every field it shows, with the same JSON types.
    example = REFERENCE / "GET_STATE.json"
    if example.exists():
        ref = json.loads(example.read_text())["response"]["body"]["get_state"]
        state = v1(master.port, {"type": "GET_STATE"})[1]["get_state"]
        ref_fw, got_fw = ref["get_frameworks"]["frameworks"][0], state["get_frameworks"]["frameworks"][0]
        assert {k: type(v) for k, v in ref_fw.items()} == {k: type(got_fw[k]) for k in ref_fw}
        # (principal and hostname are what that example's framework gave; this one gives neither)
        assert set(ref_fw["framework_info"]) - {"principal", "hostname"} <= set(got_fw["framework_info"])
        ref_task, got_task = ref["get_tasks"]["completed_tasks"][0], state["get_tasks"]["tasks"][0]
        shown = set(ref_task) - {"executor_id"}  # a command task has no ExecutorInfo at the master
        assert {k: type(ref_task[k]) for k in shown} == {k: type(got_task[k]) for k in shown}
        assert set(ref_task["statuses"][0]) <= set(got_task["statuses"][-1])
    # What is left of the agent is offered again (after the ACCEPT's 5 s filter).
    (rest,) = fw.offers(after=fw.stream.types().index("OFFERS") + 1, timeout=30)
    assert {r["name"]: r.get("scalar", {}).get("value") for r in rest["resources"]}["cpus"] == 1.5
    assert fw.call("DECLINE", {"offer_ids": [rest["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    # The scheduler fails and comes back: the task ran on; implicit reconciliation says so.
    fw.stream.close()
    wait_for(lambda: metrics(master)["master/frameworks_disconnected"] == 1.0, 10, "disconnection")
    assert container_running(running)
    fw.stream = fw.subscribe()
    assert fw.call("RECONCILE", {}) == (202, "")
    wait_for(lambda: fw.stream.updates("sleeper"), 10, "reconciliation")
    assert fw.stream.updates("sleeper")[0]["state"] == "TASK_RUNNING"
    # KILL: KILLING, then KILLED; acknowledged, the task is completed at the master.
    assert fw.call("KILL", {"task_id": {"value": "sleeper"}, "agent_id": {"value": agent_id}}) == (202, "")
    killed = acknowledge_through(fw, "sleeper", "TASK_KILLED")
    assert "TASK_KILLING" in [s["state"] for s in fw.stream.updates("sleeper")]
    wait_for(lambda: not container_running(running), 30, "the container to stop")
    wait_for(
        lambda: get_json(master.port, "/master/state")["frameworks"][0]["completed_tasks"], 10, "the completed task"
    )
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert model["tasks"] == [] and model["completed_tasks"][0]["state"] == "TASK_KILLED"
    m = metrics(master)
    assert (m["master/tasks_killed"], m["master/tasks_running"], m["master/cpus_used"]) == (1.0, 0.0, 0.0)
    assert (
        killed["uuid"]
        == v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["completed_tasks"][0]["status_update_uuid"]
    )
    # TEARDOWN of a framework with a running task: the agent shuts the framework down.
    # The freed resources are not covered by the decline's filter: offered again (this stream's
    # first OFFERS: while the task ran, the filter held the rest back).
    assert fw.call("REVIVE") == (202, "")
    (offer,) = fw.offers(timeout=30)
    assert fw.call("ACCEPT", docker_launch(offer, "doomed", task_image)) == (202, "")
    doomed = acknowledge_through(fw, "doomed", "TASK_RUNNING")
    assert fw.call("TEARDOWN") == (202, "")
    wait_for(lambda: not container_running(doomed), 60, "the torn-down framework's container to stop")
    (completed,) = get_json(master.port, "/master/state")["completed_frameworks"]
    assert {t["id"]: t["state"] for t in completed["completed_tasks"]} == {
        "sleeper": "TASK_KILLED",
        "doomed": "TASK_KILLED",
    }


def test_master_failover_keeps_running_tasks(
    task_image: str,
    zk_ensemble: Any,
    procs: list[Proc],
    tmp_path: Path,
) -> None:
    # docs/high-availability-framework-guide.md: the new leader learns the task from the agent's
    # re-registration (the framework shows up `recovered` until it re-subscribes), the
    # framework re-subscribes with its FrameworkID and reconciles; the task never stopped.
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    for port in ports:
        args = master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=1", "--zk_session_timeout=2secs")
        procs.append(Proc("master", args).wait_http())
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    follower = next(p for p in ports if p != leader)
    wait_for(lambda: metrics_of(leader)["registrar/log/recovered"] == 1.0, 10, "the registry to recover")
    aport = free_port()
    extra = ("--zk_session_timeout=2secs", "--containerizers=docker,mesos")
    procs.append(Proc("agent", agent_args(aport, zk_url, tmp_path / "ha-agent", *extra)).wait_http())
    info = {"name": "survivor", "checkpoint": True, "failover_timeout": 3600.0, **PARTITION_AWARE}
    fw = Framework(leader, info)
    (offer,) = fw.offers()
    assert fw.call("ACCEPT", docker_launch(offer, "keep", task_image)) == (202, "")
    running = acknowledge_through(fw, "keep", "TASK_RUNNING")
    next(p for p in procs if p.port == leader).kill()
    new_leader = wait_for(lambda: _leader([follower]), 30, "the new leader")

    def recovered() -> dict | None:
        frameworks = get_json(new_leader, "/master/state")["frameworks"]
        return frameworks[0] if frameworks and frameworks[0]["tasks"] else None

    model = wait_for(recovered, 30, "the agent's tasks at the new leader")
    assert (model["id"], model["recovered"], model["connected"]) == (fw.id, True, False)
    assert [(t["id"], t["state"]) for t in model["tasks"]] == [("keep", "TASK_RUNNING")]
    assert metrics_of(new_leader)["master/tasks_running"] == 1.0
    fw.port = new_leader
    fw.stream = fw.subscribe()
    assert fw.call("RECONCILE", {"tasks": [{"task_id": {"value": "keep"}}]}) == (202, "")
    wait_for(lambda: fw.stream.updates("keep"), 10, "reconciliation")
    status = fw.stream.updates("keep")[0]
    assert (status["state"], status["reason"]) == ("TASK_RUNNING", "REASON_RECONCILIATION")
    assert container_running(running)
    (model,) = get_json(new_leader, "/master/state")["frameworks"]
    assert (model["recovered"], model["active"], model["connected"]) == (False, True, True)
    # The new leader can kill it: the agent is its agent now.
    assert fw.call("KILL", {"task_id": {"value": "keep"}}) == (202, "")
    acknowledge_through(fw, "keep", "TASK_KILLED")
    wait_for(lambda: not container_running(running), 30, "the container to stop")
