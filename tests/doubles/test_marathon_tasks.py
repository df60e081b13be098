"""The Marathon protocol double as a framework on the Mesos double: real DOCKER tasks.

Pins mesosphere/marathon v1.10.26 behaviour end to end: the v1 scheduler API subscription with
the stored FrameworkID, instances launched as DOCKER tasks with Marathon's task ids and
environment (tasks/TaskBuilder.scala, mesos/EnvironmentHelper.scala), deployments that finish
only when the instances run (and are healthy), a rolling update that never has fewer healthy
instances than ``ceil(instances * minimumHealthCapacity)`` (TaskReplaceActor.scala, observed
from outside through the API), an app that does not fit the agents staying queued, and a
failed-over leader keeping the running tasks (reconciliation, no relaunch). Mesos master and
agent are the Mesos protocol double; containers run in the host's Docker engine with the task
image of tools/build-task-image (busybox httpd on $PORT).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.doubles.marathon_double_client import (
    REPO,
    Events,
    Marathon,
    call,
    get_json,
    leader_of,
    wait_for,
    zk_url,
)
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import (
    Proc,
    agent_args,
    master_args,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

IMAGE = "orchestrator-platform/task-busybox:1"  # tools/build-task-image
LABEL = f"orchestrator-platform.marathon-test={uuid.uuid4().hex[:12]}"
TASK_ID = re.compile(r"^[a-z0-9_-]+\.instance-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\._app\.1$")


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def task_image() -> Iterator[str]:
    builder = REPO / "tools" / "build-task-image"
    res = subprocess.run([str(builder)], capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, f"tools/build-task-image failed:\n{res.stdout}\n{res.stderr}"
    yield IMAGE
    # Only the containers of this run's apps (they carry LABEL).
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        docker("rm", "-f", *ids)


def containers() -> list[dict]:
    """This run's running containers: name and environment."""
    ids = docker("ps", "-q", "--filter", f"label={LABEL}").stdout.split()
    out = []
    for cid in ids:
        fmt = "{{.Name}}|{{json .Config.Env}}"
        name, _sep, env = docker("inspect", "--format", fmt, cid).stdout.strip().partition("|")
        pairs = [e.split("=", 1) for e in json.loads(env)]
        out.append({"name": name, "env": dict(pairs)})
    return out


@pytest.fixture
def cluster(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> dict:
    """A Mesos double master (in ZooKeeper) and one Docker agent."""
    mesos_zk = f"zk://{zk_ensemble.connect_string}/mesos-m{uuid.uuid4().hex[:8]}"
    port = free_port()
    master = Proc("master", master_args(port, tmp_path, f"--zk={mesos_zk}", "--quorum=1", "--registry=in_memory"))
    procs.append(master)
    master.wait_http()
    agent_port = free_port()
    agent = Proc(
        "agent",
        agent_args(
            agent_port,
            mesos_zk,
            tmp_path / "agent",
            "--containerizers=docker,mesos",
            resources="cpus:2;mem:1024;disk:2048;ports:[31000-31999]",
        ),
    )
    procs.append(agent)
    agent.wait_http()

    def registered_agents() -> list[Any]:
        # 503 "No leader elected" until the master wins its election in ZooKeeper (seconds on a
        # loaded machine): not yet, as for a real Mesos master.
        status, _headers, body = call(port, "GET", "/master/slaves")
        return body["slaves"] if status == 200 else []

    wait_for(registered_agents, 60, "the master's election and the agent's registration")
    return {"master": master, "mesos_zk": mesos_zk, "zk": zk_url(zk_ensemble)}


def app_def(app_id: str, instances: int, **extra: Any) -> dict:
    docker_info = {"image": IMAGE, "parameters": [{"key": "label", "value": LABEL}]}
    return {
        "id": app_id,
        "instances": instances,
        "cpus": 0.1,
        "mem": 32,
        "container": {"type": "DOCKER", "docker": docker_info},
        "portDefinitions": [{"port": 0, "name": "http"}],
        **extra,
    }


def deployed(m: Marathon, app_id: str) -> bool:
    return get_json(m.port, f"/v2/apps{app_id}")["app"]["deployments"] == []


def test_scale_up_runs_docker_tasks_and_a_new_leader_keeps_them(
    task_image: str,
    cluster: dict,
    marathons: list[Marathon],
) -> None:
    m = Marathon(cluster["zk"], cluster["mesos_zk"], "--framework_name=marathon-double-test")
    marathons.append(m)
    m.wait_up()
    events = Events(m.port)
    # The framework registered with Mesos under its name; the id is stored and reported.
    fid = wait_for(lambda: get_json(m.port, "/v2/info")["frameworkId"], 30, "the framework id")
    frameworks = get_json(cluster["master"].port, "/master/frameworks")["frameworks"]
    assert [(f["id"], f["name"]) for f in frameworks] == [(fid, "marathon-double-test")]
    assert frameworks[0]["failover_timeout"] == 604800
    # 0 instances: StartApplication only; then 0 -> 2: ScaleApplication until both run.
    status, _h, _b = call(m.port, "POST", "/v2/apps", app_def("/web", 0))
    assert status == 201
    wait_for(lambda: deployed(m, "/web"), 30, "the empty deployment")
    started = time.monotonic()
    status, _h, body = call(m.port, "PUT", "/v2/apps/web", {"instances": 2})
    assert status == 200
    # An app that does not fit any agent stays queued, its deployment stays.
    assert call(m.port, "POST", "/v2/apps", app_def("/huge", 1, cpus=64))[0] == 201
    events.wait("deployment_success", 120, id=body["deploymentId"])
    took = time.monotonic() - started
    app = get_json(m.port, "/v2/apps/web")["app"]
    assert (app["tasksRunning"], app["tasksStaged"], len(app["tasks"])) == (2, 0, 2)
    for task in app["tasks"]:
        assert TASK_ID.match(task["id"]) and task["id"].startswith("web.instance-"), task["id"]
        assert task["state"] == "TASK_RUNNING" and task["host"] == "127.0.0.1"
        assert 31000 <= task["ports"][0] <= 31999
    running = containers()
    assert len(running) == 2
    by_task = {c["env"]["MESOS_TASK_ID"]: c["env"] for c in running}
    assert set(by_task) == {t["id"] for t in app["tasks"]}
    for task in app["tasks"]:
        env = by_task[task["id"]]
        assert env["MARATHON_APP_ID"] == "/web" and env["HOST"] == "127.0.0.1"
        assert env["PORT0"] == env["PORT"] == env["PORT_HTTP"] == str(task["ports"][0])
        assert env["MARATHON_APP_VERSION"] == app["version"]
        # EnvironmentHelper.portsEnv: PORT_<requested port> names the service port here.
        assert env[f"PORT_{app['portDefinitions'][0]['port']}"] == str(task["ports"][0])
    # The busybox httpd of each task answers on its port.
    for task in app["tasks"]:
        wait_for(
            lambda t=task: urllib.request.urlopen(f"http://127.0.0.1:{t['ports'][0]}/").status == 200,
            30,
            "the task's httpd",
        )
    assert [e["taskStatus"] for e in events.of("status_update_event") if e["appId"] == "/web"].count(
        "TASK_RUNNING"
    ) == 2
    queue = get_json(m.port, "/v2/queue")["queue"]
    assert [(q["app"]["id"], q["count"]) for q in queue] == [("/huge", 1)]
    assert [d["affectedApps"] for d in get_json(m.port, "/v2/deployments")] == [["/huge"]]
    # A new leader: same framework id, the same two tasks (reconciled, nothing relaunched).
    before = sorted(t["id"] for t in app["tasks"])
    events.close()
    m.kill()
    m2 = Marathon(cluster["zk"], cluster["mesos_zk"], "--framework_name=marathon-double-test")
    marathons.append(m2)
    m2.wait_up()
    wait_for(lambda: leader_of([m2.port]) == m2.port, 30, "the new leader")
    assert wait_for(lambda: get_json(m2.port, "/v2/info")["frameworkId"], 30, "the framework id") == fid
    wait_for(
        lambda: [f["active"] for f in get_json(cluster["master"].port, "/master/frameworks")["frameworks"]] == [True],
        30,
        "the re-subscription",
    )
    after = get_json(m2.port, "/v2/apps/web")["app"]
    assert sorted(t["id"] for t in after["tasks"]) == before and after["tasksRunning"] == 2
    assert len(containers()) == 2
    print(f"scale 0->2 deployment took {took:.1f}s")
    # AppTasksResource.deleteOne: killed without scale, the instance is replaced; with scale=true
    # the app loses one instance through a deployment.
    victim = before[0]
    status, _h, body = call(m2.port, "DELETE", f"/v2/apps/web/tasks/{victim}")
    assert status == 200 and body["task"]["id"] == victim
    wait_for(
        lambda: (
            (
                ids := [
                    t["id"] for t in get_json(m2.port, "/v2/apps/web")["app"]["tasks"] if t["state"] == "TASK_RUNNING"
                ]
            )
            and victim not in ids
            and len(ids) == 2
        ),
        60,
        "the replacement",
    )
    survivor = before[1]
    status, headers, body = call(m2.port, "DELETE", f"/v2/apps/web/tasks/{survivor}?scale=true")
    assert status == 200 and headers["Marathon-Deployment-Id"] == body["deploymentId"]
    wait_for(lambda: deployed(m2, "/web"), 60, "the scale-down")
    final = get_json(m2.port, "/v2/apps/web")["app"]
    assert final["instances"] == 1 and [t["id"] for t in final["tasks"]] != [survivor] and len(final["tasks"]) == 1
    assert call(m2.port, "DELETE", "/v2/apps/web/tasks/nope")[0:3:2] == (404, {"message": "Task 'nope' does not exist"})


def test_bridge_network_maps_the_host_port(
    task_image: str,
    cluster: dict,
    marathons: list[Marathon],
) -> None:
    m = Marathon(cluster["zk"], cluster["mesos_zk"])
    marathons.append(m)
    m.wait_up()
    # A Marathon-side HTTP check (HealthCheckWorker): the double probes host:hostPort itself.
    check = {"protocol": "HTTP", "portIndex": 0, "path": "/", "intervalSeconds": 1, "gracePeriodSeconds": 30}
    app = app_def("/bridged", 1, cmd="exec httpd -f -p 8080 -h /www", healthChecks=[check])
    del app["portDefinitions"]
    app["container"]["docker"]["network"] = "BRIDGE"  # the legacy field, normalised to networks
    app["container"]["docker"]["portMappings"] = [{"containerPort": 8080, "hostPort": 0, "name": "web"}]
    assert call(m.port, "POST", "/v2/apps", app)[0] == 201
    wait_for(
        lambda: deployed(m, "/bridged"),
        60,
        "the deployment",
        details=lambda: (
            f"{m.output()[-4000:]}\n{call(m.port, 'GET', '/v2/apps/bridged')[2]}\n{call(m.port, 'GET', '/metrics')[2]}"
        ),
    )
    got = get_json(m.port, "/v2/apps/bridged")["app"]
    assert got["networks"] == [{"mode": "container/bridge"}] and got["tasksHealthy"] == 1
    assert got["healthChecks"][0]["timeoutSeconds"] == 20 and got["healthChecks"][0]["maxConsecutiveFailures"] == 3
    [task] = got["tasks"]
    [host_port] = task["ports"]
    assert 31000 <= host_port <= 31999
    # Docker maps the offer's host port to the container port: the task answers there.
    assert wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{host_port}/").status == 200, 30, "httpd")
    [container] = [c for c in containers() if c["env"]["MARATHON_APP_ID"] == "/bridged"]
    env = container["env"]
    assert env["PORT0"] == env["PORT"] == env["PORT_8080"] == env["PORT_WEB"] == env["PORTS"] == str(host_port)


def test_rolling_update_keeps_the_minimum_healthy(
    task_image: str,
    cluster: dict,
    marathons: list[Marathon],
) -> None:
    m = Marathon(cluster["zk"], cluster["mesos_zk"])
    marathons.append(m)
    m.wait_up()
    check = {
        "protocol": "MESOS_HTTP",
        "path": "/",
        "portIndex": 0,
        "gracePeriodSeconds": 30,
        "intervalSeconds": 1,
        "timeoutSeconds": 1,
        "delaySeconds": 0,
        "maxConsecutiveFailures": 3,
    }
    strategy = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    app = app_def("/roll", 3, healthChecks=[check], upgradeStrategy=strategy, env={"GEN": "1"})
    assert call(m.port, "POST", "/v2/apps", app)[0] == 201
    events = Events(m.port)
    wait_for(lambda: deployed(m, "/roll"), 180, "the first deployment")
    first = get_json(m.port, "/v2/apps/roll")["app"]
    assert first["tasksHealthy"] == 3 and first["tasksRunning"] == 3
    # Observe from outside: RUNNING tasks whose health check passes, and all live tasks.
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            tasks = get_json(m.port, "/v2/apps/roll/tasks")["tasks"]
            healthy = sum(
                1
                for t in tasks
                if t["state"] == "TASK_RUNNING" and t["healthCheckResults"] and t["healthCheckResults"][0]["alive"]
            )
            seen.append((healthy, len(tasks)))
            time.sleep(0.05)  # the sampling interval of the observer

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    status, _h, body = call(m.port, "PUT", "/v2/apps/roll", {"env": {"GEN": "2"}})
    assert status == 200
    try:
        events.wait("deployment_success", 240, id=body["deploymentId"])
    finally:
        stop.set()
        watcher.join(5)
    [plan] = [e["plan"] for e in events.of("deployment_info") if e["plan"]["id"] == body["deploymentId"]]
    assert plan["steps"] == [{"actions": [{"action": "RestartApplication", "app": "/roll"}]}]
    final = get_json(m.port, "/v2/apps/roll")["app"]
    assert final["tasksHealthy"] == 3 and {t["version"] for t in final["tasks"]} == {final["version"]}
    assert not {t["id"] for t in final["tasks"]} & {t["id"] for t in first["tasks"]}
    # ceil(3 * 0.5) = 2 healthy at every sample; floor(3 * (1 + 0)) = 3 (+1 as minHealthy < 3) live at most.
    assert seen and min(h for h, _n in seen) >= 2, seen
    assert max(n for _h, n in seen) <= 3, seen
    low, high = min(h for h, _n in seen), max(n for _h, n in seen)
    print(f"rolling update: {len(seen)} samples, healthy at least {low}, live at most {high}")
    assert len([c for c in containers() if c["env"]["MARATHON_APP_ID"] == "/roll"]) == 3
    # Nothing left to launch: offers are declined and suppressed (nothing outstanding at the master).
    counters = get_json(m.port, "/metrics")["counters"]
    assert counters["marathon.mesos.offers.declined.counter"]["count"] >= 1
    wait_for(
        lambda: get_json(m.port, "/metrics")["counters"]["marathon.mesos.calls.suppress.counter"]["count"],
        10,
        "SUPPRESS",
    )
    wait_for(
        lambda: get_json(cluster["master"].port, "/metrics/snapshot")["master/outstanding_offers"] == 0.0,
        10,
        "no outstanding offers",
    )
    events.close()


def test_failing_health_check_keeps_the_deployment_and_backs_off(
    task_image: str,
    cluster: dict,
    marathons: list[Marathon],
) -> None:
    m = Marathon(cluster["zk"], cluster["mesos_zk"])
    marathons.append(m)
    m.wait_up()
    events = Events(m.port)
    check = {
        "protocol": "MESOS_HTTP",
        "path": "/missing",  # busybox httpd: 404
        "gracePeriodSeconds": 0,
        "intervalSeconds": 1,
        "timeoutSeconds": 1,
        "delaySeconds": 0,
        "maxConsecutiveFailures": 2,
    }
    app = app_def("/sick", 1, healthChecks=[check], backoffSeconds=1, backoffFactor=2, maxLaunchDelaySeconds=8)
    _s, headers, _b = call(m.port, "POST", "/v2/apps", app)
    deployment = headers["Marathon-Deployment-Id"]

    def ended() -> list[dict]:
        return [
            e for e in events.of("status_update_event") if e["appId"] == "/sick" and e["taskStatus"] == "TASK_KILLED"
        ]

    wait_for(
        lambda: len(ended()) >= 3,
        120,
        "three killed incarnations",
        details=lambda: (
            f"{m.output()[-3000:]}\n{events.events[-20:]}\n{get_json(cluster['master'].port, '/master/tasks')}"
        ),
    )
    # Mesos killed each task for its health (Marathon did not ask: each was a new instance).
    assert len({e["taskId"] for e in ended()}) >= 3
    assert any(e["alive"] is False for e in events.of("health_status_changed_event") if e["appId"] == "/sick")
    # The deployment is still running; the app waits in the launch queue with a delay.
    assert deployment in [d["id"] for d in get_json(m.port, "/v2/deployments")]
    status = get_json(m.port, "/v2/apps/sick")["app"]
    assert status["lastTaskFailure"]["state"] == "TASK_KILLED" and status["lastTaskFailure"]["appId"] == "/sick"
    assert status["tasksHealthy"] == 0
    # RateLimiter: backoffSeconds 1, then doubled: the third launch waited at least 2 s after the second kill.
    starts = {}
    for e in events.of("status_update_event"):
        if e["appId"] == "/sick":
            starts.setdefault(e["taskId"], e["timestamp"])
    kills = sorted(e["timestamp"] for e in ended())
    later = sorted(t for t in starts.values() if t > kills[1])
    gap = _seconds(later[0]) - _seconds(kills[1])
    assert gap >= 1.8, (kills, sorted(starts.values()))
    events.close()


def _seconds(stamp: str) -> float:
    import datetime  # noqa: PLC0415 - only here

    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()
