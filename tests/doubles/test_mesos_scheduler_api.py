"""The v1 scheduler HTTP API of the Mesos protocol double's master, driven like a framework would.

Each test pins behaviour of upstream apache/mesos (docs/scheduler-http-api.md,
src/master/http.cpp Master::Http::scheduler, src/master/master.cpp, src/master/validation.cpp,
docs/reconciliation.md) against a master double subprocess (standalone, in-memory registry) and
agent doubles, with the client of mesos_scheduler_client.py: the endpoint's checks, the
SUBSCRIBE stream, offers, ACCEPT validation, reconciliation, UPDATE_FRAMEWORK, teardown, plus
units of the resource arithmetic and of stout's texts. Failover, high availability and tasks
end to end: test_mesos_scheduler_failover.py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ansible_collections.orchestrator.platform.tests.doubles.mesos_scheduler_client import (
    PARTITION_AWARE,
    EventStream,
    Framework,
    launch,
    metrics,
    scheduler_call,
    start_agent,
)
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import (
    Proc,
    get_json,
    master_args,
    request,
    v1,
    wait_for,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

# test_mesos_double put the double's package on sys.path.
from mesos_double import allocator, protojson, recordio

REFERENCE = Path(os.environ.get("MESOS_REFERENCE_DIR", "/work/shared/reference/mesos/api"))


def test_subscribe_opens_a_recordio_stream_with_heartbeats(master: Proc) -> None:
    fw = Framework(master.port)
    stream = fw.stream
    # http.cpp: 200, the accepted content type, a stream id, chunked (Response::PIPE).
    assert stream.headers["content-type"] == "application/json"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert len(stream.stream_id) == 36
    subscribed = stream.events[0]
    assert subscribed["type"] == "SUBSCRIBED"
    master_info = v1(master.port, {"type": "GET_MASTER"})[1]["get_master"]["master_info"]
    assert subscribed["subscribed"] == {
        "framework_id": {"value": f"{master_info['id']}-0000"},
        "heartbeat_interval_seconds": 15.0,
        "master_info": master_info,
    }
    # Framework::heartbeat: the first HEARTBEAT right after SUBSCRIBED.
    stream.wait_type("HEARTBEAT")
    assert stream.types()[:2] == ["SUBSCRIBED", "HEARTBEAT"] and stream.errors == []
    # The framework is registered, active and connected; a second one gets the next id.
    state = get_json(master.port, "/master/state")
    (model,) = state["frameworks"]
    assert (model["id"], model["name"], model["user"], model["active"], model["connected"]) == (
        fw.id,
        "test-framework",
        "nobody",
        True,
        True,
    )
    assert model["role"] == "*" and model["tasks"] == [] and model["recovered"] is False
    assert state["completed_frameworks"] == [] and state["unregistered_frameworks"] == []
    assert Framework(master.port).id == f"{master_info['id']}-0001"
    m = metrics(master)
    assert (m["master/frameworks_active"], m["master/frameworks_connected"]) == (2.0, 2.0)
    frameworks = v1(master.port, {"type": "GET_FRAMEWORKS"})[1]["get_frameworks"]["frameworks"]
    assert {f["framework_info"]["id"]["value"] for f in frameworks} == {fw.id, f"{master_info['id']}-0001"}
    assert all(f["active"] and f["connected"] and "registered_time" in f for f in frameworks)


def test_heartbeats_every_15_seconds(master: Proc) -> None:
    # Framework::heartbeat: DEFAULT_HEARTBEAT_INTERVAL (15 s) between HEARTBEATs, the first at once.
    start = time.monotonic()
    fw = Framework(master.port)
    fw.stream.wait(lambda _e: fw.stream.types().count("HEARTBEAT") >= 2, "the second HEARTBEAT", timeout=30)
    assert time.monotonic() - start >= 14.5
    assert fw.stream.types()[:2] == ["SUBSCRIBED", "HEARTBEAT"] and fw.stream.errors == []


def test_request_checks_answer_as_upstream(master: Proc) -> None:
    port = master.port
    sub = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    status, headers, body = request(port, "GET", "/api/v1/scheduler")
    assert (status, headers["Allow"], body) == (405, "POST", b"Expecting one of { 'POST' }, but received 'GET'")
    assert request(port, "POST", "/api/v1/scheduler", sub)[:3:2] == (400, b"Expecting 'Content-Type' to be present")
    status, _unused, body = request(port, "POST", "/api/v1/scheduler", sub, {"Content-Type": "text/plain"})
    assert (status, body) == (415, b"Expecting 'Content-Type' of application/json or application/x-protobuf")
    status, text = scheduler_call(port, b"{nope")
    assert status == 400 and text.startswith("Failed to parse body into JSON: ")
    # stout's protobuf::parse: required fields and JSON types.
    assert scheduler_call(port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {}}}) == (
        400,
        "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user, "
        "subscribe.framework_info.name",
    )
    assert scheduler_call(port, {"type": "NOPE"}) == (
        400,
        "Failed to convert JSON into Call protobuf: Failed to find enum for 'NOPE'",
    )
    assert scheduler_call(port, {"type": "DECLINE", "framework_id": {"value": "x"}, "decline": {"offer_ids": 1}}) == (
        400,
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'offer_ids'",
    )
    # validation::scheduler::call::validate
    assert scheduler_call(port, {}) == (400, "Failed to validate scheduler::Call: Expecting 'type' to be present")
    assert scheduler_call(port, {"type": "SUBSCRIBE"}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
    )
    with_id = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "a"}}}}
    assert scheduler_call(port, with_id) == (
        400,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'",
    )
    assert scheduler_call(port, {"type": "TEARDOWN"}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
    )
    assert scheduler_call(port, {"type": "ACCEPT", "framework_id": {"value": "x"}}) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'accept' to be present",
    )
    # SUBSCRIBE: Accept, and no stream id of its own.
    status, _unused, body = request(
        port, "POST", "/api/v1/scheduler", sub, {"Content-Type": "application/json", "Accept": "text/html"}
    )
    assert (status, body) == (406, b"Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
    refused = EventStream(port, sub, {"Mesos-Stream-Id": "x"})
    assert (refused.status, refused.body) == (
        400,
        b"Subscribe calls should not include the 'Mesos-Stream-Id' header",
    )
    # Other calls: the framework, then the stream id.
    assert scheduler_call(port, {"type": "REVIVE", "framework_id": {"value": "nope"}}) == (
        400,
        "Framework cannot be found",
    )
    fw = Framework(port)
    assert scheduler_call(port, {"type": "REVIVE", "framework_id": {"value": fw.id}}) == (
        400,
        "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
    )
    assert fw.call("REVIVE", stream_id="other") == (
        400,
        f"The stream ID 'other' included in this request didn't match the stream ID currently associated with "
        f"framework ID {fw.id}",
    )
    ack = {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "YWJj"}
    assert fw.call("ACKNOWLEDGE", ack) == (400, "Failed to validate scheduler::Call: Not a valid UUID")
    assert fw.call("REVIVE") == (202, "")
    # Nothing of this disturbed the framework.
    assert fw.stream.ended is None and fw.stream.errors == []


def test_chunked_request_body(master: Proc) -> None:
    # libprocess decodes chunked request bodies too: a SUBSCRIBE sent that way is a SUBSCRIBE.
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "chunky"}}})
    half = len(body) // 2
    chunks = b"".join(f"{len(part):x}\r\n{part}\r\n".encode() for part in (body[:half], body[half:])) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", master.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    wait_for(lambda: get_json(master.port, "/master/frameworks")["completed_frameworks"], 10, "the closed stream")
    assert get_json(master.port, "/master/frameworks")["completed_frameworks"][0]["name"] == "chunky"


def test_subscription_refusals_are_error_events(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    # Master::subscribe refuseSubscription: 200, an ERROR event, the stream closed.
    def refused(info: dict) -> str:
        stream = EventStream(master.port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
        assert stream.status == 200
        error = stream.wait_type("ERROR")
        wait_for(lambda: stream.ended == "last chunk", 10, "the stream's end")
        return str(error["error"]["message"])

    base = {"user": "u", "name": "n"}
    assert (
        refused({**base, "role": "a", "capabilities": [{"type": "MULTI_ROLE"}]})
        == "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    )
    assert refused({**base, "roles": ["a"]}) == (
        "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    )
    assert refused({**base, "role": "-x"}) == (
        "'FrameworkInfo.role' is not a valid role: Role component '-x' is invalid because it starts with a dash"
    )
    assert refused({**base, "roles": ["a", "a"], "capabilities": [{"type": "MULTI_ROLE"}]}) == (
        "'FrameworkInfo.roles' contains duplicate items: { a }"
    )
    assert get_json(master.port, "/master/state")["frameworks"] == []
    # --no-root_submissions
    port = free_port()
    strict = Proc("master", master_args(port, tmp_path, "--registry=in_memory", "--no-root_submissions")).wait_http()
    procs.append(strict)
    stream = EventStream(port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "n"}}})
    assert stream.wait_type("ERROR")["error"]["message"] == (
        "User 'root' is not allowed to run frameworks without --root_submissions set"
    )


def test_the_endpoint_is_also_under_master(master: Proc) -> None:
    # libprocess: the master process's own path /master/api/v1/scheduler, /api/v1/scheduler by delegation.
    call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    body = json.dumps(call).encode()
    conn = http.client.HTTPConnection("127.0.0.1", master.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/master/api/v1/scheduler",
            body,
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Mesos-Stream-Id")
        length = int(resp.readline())
        assert json.loads(resp.read(length))["type"] == "SUBSCRIBED"
    finally:
        conn.close()


def test_offers_declines_suppress_and_revive(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    agent_id = start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port)
    (offer,) = fw.offers()
    slave = get_json(master.port, "/master/slaves")["slaves"][0]
    assert offer["agent_id"] == {"value": agent_id} and offer["framework_id"] == {"value": fw.id}
    assert offer["id"]["value"].startswith(
        v1(master.port, {"type": "GET_MASTER"})[1]["get_master"]["master_info"]["id"]
    )
    assert offer["hostname"] == "127.0.0.1" and offer["allocation_info"] == {"role": "*"}
    assert offer["url"] == {
        "scheme": "http",
        "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": slave["port"]},
        "path": "/slave(1)",
    }
    assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in offer["attributes"]
    by_name = {r["name"]: r for r in offer["resources"]}
    assert by_name["cpus"] == {
        "name": "cpus",
        "role": "*",
        "type": "SCALAR",
        "scalar": {"value": 2.0},
        "allocation_info": {"role": "*"},
    }
    assert by_name["ports"]["ranges"] == {"range": [{"begin": 31000, "end": 32000}]}
    assert metrics(master)["master/outstanding_offers"] == 1.0
    state = get_json(master.port, "/master/state")
    assert state["frameworks"][0]["offers"][0]["id"] == offer["id"]["value"]
    assert state["slaves"][0]["offered_resources"]["cpus"] == 2.0
    # DECLINE with a short filter: the resources come back in a new offer.
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0.5}}) == (202, "")
    (again,) = fw.offers(after=seen)
    assert again["id"] != offer["id"] and again["agent_id"] == offer["agent_id"]
    # Declining an offer twice: the second is ignored (no longer valid), nothing else happens.
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [again["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    assert fw.call("DECLINE", {"offer_ids": [again["id"]]}) == (202, "")
    wait_for(lambda: metrics(master)["master/outstanding_offers"] == 0.0, 10, "the offer to go")
    # REVIVE drops the filter: offered again.
    assert fw.call("REVIVE") == (202, "")
    (revived,) = fw.offers(after=seen)
    # SUPPRESS, then a decline without filter: no offer until REVIVE.
    assert fw.call("SUPPRESS") == (202, "")
    seen = len(fw.stream.events)
    assert fw.call("DECLINE", {"offer_ids": [revived["id"]], "filters": {"refuse_seconds": 0}}) == (202, "")
    deadline = time.monotonic() + 2.5  # two and a half allocation intervals
    while time.monotonic() < deadline:
        assert "OFFERS" not in fw.stream.types()[seen:]
        time.sleep(0.1)  # the poll interval of a negative check
    assert fw.call("REVIVE") == (202, "")
    fw.offers(after=seen)


def test_two_frameworks_both_get_offers(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    # DRF: with two agents each framework gets one; a declined agent goes to the other one.
    a1 = start_agent(master, procs, tmp_path / "a1")
    first = Framework(master.port, {"name": "first"})
    (offer,) = first.offers()
    assert offer["agent_id"]["value"] == a1
    second = Framework(master.port, {"name": "second"})
    seen = len(second.stream.events)
    assert first.call("DECLINE", {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 3600}}) == (202, "")
    (taken,) = second.offers(after=seen)
    assert taken["agent_id"]["value"] == a1
    a2 = start_agent(master, procs, tmp_path / "a2")
    (other,) = first.offers(after=1 + first.stream.types().index("OFFERS"))
    assert other["agent_id"]["value"] == a2


def test_offers_are_rescinded_when_the_agent_goes(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port)
    (offer,) = fw.offers()
    procs[-1].kill(15)  # SIGTERM: the agent tells its master it disconnects
    rescind = fw.stream.wait_type("RESCIND")
    assert rescind["rescind"] == {"offer_id": offer["id"]}
    assert metrics(master)["master/outstanding_offers"] == 0.0
    # ACCEPT of the rescinded offer: TASK_LOST, REASON_INVALID_OFFERS (TASK_DROPPED when partition-aware).
    assert fw.call("ACCEPT", launch(offer, "late")) == (202, "")
    (status,) = fw.stream.wait(lambda e: e["type"] == "UPDATE", "UPDATE") and fw.stream.updates("late")
    assert (status["state"], status["reason"], status["source"]) == (
        "TASK_LOST",
        "REASON_INVALID_OFFERS",
        "SOURCE_MASTER",
    )
    assert status["message"] == f"Task launched with invalid offers: Offer {offer['id']['value']} is no longer valid"
    assert "uuid" not in status
    assert metrics(master)["master/tasks_lost"] == 1.0


def test_offer_timeout_and_role_whitelist(procs: list[Proc], tmp_path: Path) -> None:
    # --offer_timeout rescinds offers held too long; --roles (deprecated whitelist) refuses others.
    port = free_port()
    args = master_args(port, tmp_path, "--registry=in_memory", "--offer_timeout=1secs", "--roles=web")
    own = Proc("master", args).wait_http()
    procs.append(own)
    stream = EventStream(
        port, {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", "role": "db"}}}
    )
    assert stream.wait_type("ERROR")["error"]["message"] == "Roles { db } are not present in the master's --roles"
    start_agent(own, procs, tmp_path / "a1")
    fw = Framework(port, {"role": "web"})
    (offer,) = fw.offers()
    assert offer["allocation_info"] == {"role": "web"}
    assert fw.stream.wait_type("RESCIND")["rescind"] == {"offer_id": offer["id"]}
    (again,) = fw.offers(after=fw.stream.types().index("RESCIND"))
    assert again["id"] != offer["id"]


def test_accept_validates_tasks_as_upstream(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    agent_id = start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, PARTITION_AWARE)
    (offer,) = fw.offers()

    def status_of(task_id: str) -> dict:
        # The latest update about the task.
        wait_for(lambda: fw.stream.updates(task_id), 20, task_id)
        return fw.stream.updates(task_id)[-1]

    # Too many resources, a bad agent id, no command: TASK_ERROR with validation.cpp's messages.
    big = launch(offer, "big", cpus=5)
    assert fw.call("ACCEPT", big) == (202, "")
    status = status_of("big")
    assert (status["state"], status["reason"]) == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert status["message"] == (
        "Total resources cpus(allocated: *):5; mem(allocated: *):64 required by task and its executor is more than "
        "available cpus(allocated: *):2; mem(allocated: *):1024; disk(allocated: *):2048; "
        "ports(allocated: *):[31000-32000]"
    )
    assert status["agent_id"] == {"value": agent_id} and "uuid" not in status
    (offer,) = fw.offers(after=len(fw.stream.events) - 1, timeout=30)
    tasks = [
        launch(offer, "wrong-agent", agent_id={"value": "elsewhere"}),
        launch(offer, "no-command", command=None),
        launch(offer, "slash/id"),
        launch(offer, "docker-no-info", container={"type": "DOCKER"}),
    ]
    infos = [t["operations"][0]["launch"]["task_infos"][0] for t in tasks]
    del infos[1]["command"]
    both = {
        "offer_ids": [offer["id"], offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
    }
    assert fw.call("ACCEPT", both) == (202, "")
    status = status_of("wrong-agent")
    # A duplicated offer id: the whole ACCEPT is invalid; partition-aware -> TASK_DROPPED.
    assert (status["state"], status["reason"], status["message"]) == (
        "TASK_DROPPED",
        "REASON_INVALID_OFFERS",
        f"Task launched with invalid offers: Duplicate offer {offer['id']['value']} in offer list",
    )
    assert metrics(master)["master/tasks_dropped"] == 4.0
    (offer,) = fw.offers(after=len(fw.stream.events) - 1, timeout=30)
    ok = {**infos[0], "agent_id": offer["agent_id"], "task_id": {"value": "ok"}}
    for info in infos:
        info["agent_id"] = offer["agent_id"]
    infos[0]["agent_id"] = {"value": "elsewhere"}
    dup = {**ok}
    sick = {
        **ok,
        "task_id": {"value": "sick"},
        "health_check": {"type": "TCP", "tcp": {"port": 80}, "interval_seconds": -1},
    }
    env = {"variables": [{"name": "X"}]}
    no_value = {**ok, "task_id": {"value": "no-value"}, "command": {"value": "true", "environment": env}}
    accept = {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [*infos, sick, no_value, ok, dup]}}],
    }
    assert fw.call("ACCEPT", accept) == (202, "")
    wait_for(lambda: len(fw.stream.updates("docker-no-info")) == 2, 20, "the second round of updates")
    assert status_of("sick")["message"] == (
        "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative"
    )
    assert status_of("no-value")["message"] == (
        "Task's `CommandInfo` is invalid: Environment variable 'X' of type 'VALUE' must have a value set"
    )
    assert (
        status_of("wrong-agent")["message"] == f"Task uses invalid agent elsewhere while agent {agent_id} is expected"
    )
    assert status_of("no-command")["message"] == (
        "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    )
    assert status_of("slash/id")["message"] == "'slash/id' contains invalid characters"
    assert status_of("docker-no-info")["message"] == (
        "Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
    )
    # The valid task is launched (STAGING at the master), its duplicate is refused.
    wait_for(lambda: fw.stream.updates("ok"), 10, "the duplicate's TASK_ERROR")
    assert fw.stream.updates("ok")[0]["message"] == "Task has duplicate ID: ok"
    tasks_now = get_json(master.port, "/master/tasks")["tasks"]
    assert [(t["id"], t["slave_id"], t["framework_id"]) for t in tasks_now] == [("ok", agent_id, fw.id)]
    assert v1(master.port, {"type": "GET_TASKS"})[1]["get_tasks"]["tasks"][0]["task_id"] == {"value": "ok"}
    # /master/tasks and /master/frameworks query parameters (ReadOnlyHandler::tasks, ::frameworks).
    assert len(get_json(master.port, f"/master/tasks?framework_id={fw.id}&task_id=ok")["tasks"]) == 1
    assert get_json(master.port, "/master/tasks?task_id=nope")["tasks"] == []
    assert get_json(master.port, "/master/tasks?limit=0")["tasks"] == []
    assert get_json(master.port, "/master/tasks?offset=1")["tasks"] == []
    assert get_json(master.port, "/master/frameworks?framework_id=nope")["frameworks"] == []
    assert [f["id"] for f in get_json(master.port, f"/master/frameworks?framework_id={fw.id}")["frameworks"]] == [fw.id]
    assert metrics(master)["master/tasks_error"] == 8.0


def test_reconciliation_of_unknown_tasks(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    agent_id = start_agent(master, procs, tmp_path / "a1")
    plain = Framework(master.port)
    aware = Framework(master.port, PARTITION_AWARE)
    tasks = [
        {"task_id": {"value": "on-agent"}, "agent_id": {"value": agent_id}},
        {"task_id": {"value": "nowhere"}},
        # Agent ids no master here ever admitted: unknown, answered at once.
        {"task_id": {"value": "odd-agent"}, "agent_id": {"value": "no-such-agent-S99"}},
        {"task_id": {"value": "other-master"}, "agent_id": {"value": f"{uuid.uuid4()}-S3"}},
    ]
    for fw, expected in ((plain, ("TASK_LOST", "TASK_LOST")), (aware, ("TASK_GONE", "TASK_UNKNOWN"))):
        assert fw.call("RECONCILE", {"tasks": tasks}) == (202, "")
        on_agent = fw.stream.wait(lambda e: e["type"] == "UPDATE", "UPDATE")["update"]["status"]
        wait_for(lambda fw=fw: fw.stream.updates("nowhere"), 10, "the second answer")
        nowhere = fw.stream.updates("nowhere")[0]
        assert (on_agent["state"], nowhere["state"]) == expected
        assert on_agent["message"] == "Reconciliation: Task is unknown to the agent"
        assert nowhere["message"] == "Reconciliation: Task is unknown"
        for status in (on_agent, nowhere):
            assert status["reason"] == "REASON_RECONCILIATION" and status["source"] == "SOURCE_MASTER"
            assert "uuid" not in status
        assert "agent_id" not in nowhere
        for task_id in ("odd-agent", "other-master"):
            wait_for(lambda fw=fw, t=task_id: fw.stream.updates(t), 10, task_id)
            assert fw.stream.updates(task_id)[0]["state"] == expected[1]
        # KILL of an unknown task is a reconciliation of it (Master::kill).
        assert fw.call("KILL", {"task_id": {"value": "ghost"}}) == (202, "")
        wait_for(lambda fw=fw: fw.stream.updates("ghost"), 10, "the kill's reconciliation")
        assert fw.stream.updates("ghost")[0]["state"] == expected[1]


def test_update_framework(master: Proc, procs: list[Proc], tmp_path: Path) -> None:
    # Master::updateFramework: 200 OK or 400 with upstream's prefixes; a role the framework left
    # loses its offers (RESCIND).
    start_agent(master, procs, tmp_path / "a1")
    fw = Framework(master.port, {"name": "before"})
    (offer,) = fw.offers()

    def update(info: dict, **extra: Any) -> tuple[int, str]:
        return fw.call("UPDATE_FRAMEWORK", {"framework_info": {**fw.info, **info}, **extra})

    assert fw.call("UPDATE_FRAMEWORK", {"framework_info": {**fw.info, "id": {"value": "other"}}}) == (
        400,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'update_framework.framework_info.id'",
    )
    assert update({"user": "root"}) == (
        400,
        "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; attempted to update "
        "from 'nobody' to 'root'",
    )
    assert update({"role": "-bad"}) == (
        400,
        "Supplied FrameworkInfo is not valid: 'FrameworkInfo.role' is not a valid role: Role component '-bad' is "
        "invalid because it starts with a dash",
    )
    assert update({}, suppressed_roles=["web"]) == (
        400,
        "'UpdateFramework' call is not valid: Suppressed roles { web } are not contained in the set of roles",
    )
    assert update({"name": "after", "role": "web"}) == (200, "")
    assert fw.stream.wait_type("RESCIND")["rescind"] == {"offer_id": offer["id"]}
    (model,) = get_json(master.port, "/master/state")["frameworks"]
    assert (model["name"], model["role"]) == ("after", "web")
    (again,) = fw.offers(after=fw.stream.types().index("RESCIND"))
    assert again["allocation_info"] == {"role": "web"}
    assert {r["allocation_info"]["role"] for r in again["resources"]} == {"web"}


def test_operator_teardown(master: Proc) -> None:
    # Master::Http::teardown (POST /master/teardown, form body) and the v1 TEARDOWN call.
    first, second = Framework(master.port), Framework(master.port)

    def teardown(body: bytes) -> tuple[int, bytes]:
        status, _unused, text = request(
            master.port,
            "POST",
            "/master/teardown",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, text

    assert teardown(b"other=1") == (400, b"Missing 'frameworkId' query parameter in the request body")
    assert teardown(b"frameworkId=nope") == (400, b"No framework found with specified ID")
    assert request(master.port, "GET", "/master/teardown")[0] == 405
    assert teardown(f"frameworkId={first.id}".encode()) == (200, b"")
    wait_for(lambda: first.stream.ended is not None, 10, "the stream's end")
    assert v1(master.port, {"type": "TEARDOWN", "teardown": {"framework_id": {"value": second.id}}})[0] == 200
    wait_for(lambda: second.stream.ended is not None, 10, "the second stream's end")
    state = get_json(master.port, "/master/state")
    assert state["frameworks"] == [] and {f["id"] for f in state["completed_frameworks"]} == {first.id, second.id}


def test_resource_arithmetic_and_text() -> None:
    def res(name: str, value: Any) -> dict:
        if isinstance(value, list):
            return {"name": name, "type": "RANGES", "ranges": {"range": [{"begin": b, "end": e} for b, e in value]}}
        return {"name": name, "type": "SCALAR", "scalar": {"value": value}}

    total = allocator.Bag([res("cpus", 2), res("mem", 1024), res("ports", [(31000, 32000)])])
    used = allocator.Bag([res("cpus", 0.1), res("cpus", 0.2), res("ports", [(31000, 31000), (31500, 31600)])])
    left = total - used
    assert left.scalar("cpus") == 1.7  # fixed point, three decimals
    assert {r["name"]: r.get("ranges") for r in left.to_list()}["ports"] == {
        "range": [{"begin": 31001, "end": 31499}, {"begin": 31601, "end": 32000}]
    }
    assert total.contains(used) and not left.contains(used)
    assert allocator.Bag([res("ports", [(31000, 31001)])]).contains(allocator.Bag([res("ports", [(31001, 31001)])]))
    assert allocator.stringify(left.to_list("*")) == (
        "cpus(allocated: *):1.7; mem(allocated: *):1024; ports(allocated: *):[31001-31499, 31601-32000]"
    )
    reserved = allocator.Bag([{**res("cpus", 1), "role": "web"}, res("mem", 64)])
    assert reserved.for_role("db").scalar("cpus") == 0 and reserved.for_role("web").scalar("cpus") == 1
    assert allocator.refuse_seconds({"refuse_seconds": -3}) == 5.0
    assert allocator.refuse_seconds({"refuse_seconds": 1e12}) == 365 * 86400
    assert allocator.refuse_seconds(None) == 5.0
    # RecordIO: "<length>\n<bytes>", decoded across arbitrary splits.
    data = recordio.encode({"type": "HEARTBEAT"}) + recordio.encode({"type": "UPDATE", "x": "é"})
    decoder = recordio.Decoder()
    records = [r for i in range(len(data)) for r in decoder.decode(data[i : i + 1])]
    assert [json.loads(r)["type"] for r in records] == ["HEARTBEAT", "UPDATE"]
    assert data.startswith(b'20\n{"type":"HEARTBEAT"}')
    # stout's protobuf::parse texts.
    assert protojson.parse_call([]) == "Expecting a JSON object"
    assert protojson.parse_call({"type": "KILL", "kill": {"task_id": {}}}) == (
        "Missing required fields: kill.task_id.value"
    )
    launch_call = {"type": "ACCEPT", "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [{}]}}]}}
    assert protojson.parse_call(launch_call) == (
        "Missing required fields: accept.operations[0].launch.task_infos[0].name, "
        "accept.operations[0].launch.task_infos[0].task_id, accept.operations[0].launch.task_infos[0].agent_id"
    )
    assert protojson.parse_call({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": 1}}}) == (
        "Not expecting a JSON number for field 'user'"
    )
