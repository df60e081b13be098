"""Marathon in the lab, and an app deployed with marathon_app, watched from outside.

Marathon in the lab is the project's Marathon PROTOCOL DOUBLE (doubles/marathon), NOT
Marathon: three instances on the master hosts (inventory group ``marathon``), a framework on
the lab's Mesos double, whose agents run each instance of an app as a REAL container in their
nested Docker engine, pulled from the lab registry.

The app is deployed and updated by the collection's module ``marathon_app`` run as users run
it (``ansible localhost -m``) against all three instances. Pollers watch the app from the
outside while its definition rolls and while playbooks/marathon_rolling_restart.yml restarts
every instance: the tasks Marathon lists, and the containers themselves answering HTTP on the
agents' addresses. Numbers go to $MOLECULE_EPHEMERAL_DIRECTORY/marathon_*.json.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support.ansible_run import LOCAL, run_module
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from lab_inventory import AGENTS, group_hosts, group_vars
from mesos_checks import MASTER_PORT, elected_masters, http_json
from scenario_helpers import REPO_ROOT, container_ip, docker_exec, run_playbook, save_results

MARATHONS = group_hosts("marathon")
MARATHON_PORT = int(group_vars("marathon").get("marathon_http_port", 8080))
RESTART_PLAYBOOK = REPO_ROOT / "playbooks" / "marathon_rolling_restart.yml"
IMAGE = group_vars("all")["lab_task_image"]
APP_ID = "/lab-verify/web"
INSTANCES = 2
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@pytest.fixture(scope="module")
def marathon_ips() -> dict[str, str]:
    return {name: container_ip(name) for name in MARATHONS}


def urls(ips: dict[str, str]) -> list[str]:
    return [f"http://{ips[name]}:{MARATHON_PORT}" for name in MARATHONS]


def get(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """(status, parsed JSON or text) of a GET; a refused or timed-out request is (-1, None)."""
    try:
        with DIRECT.open(url, timeout=timeout) as resp:
            body = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, http.client.HTTPException):
        # refused, timed out, or stopped in the middle of its answer (IncompleteRead: a task
        # container killed by a rolling update while it answered): not serving
        return -1, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def app_definition(gen: int) -> dict[str, Any]:
    return {
        "id": APP_ID,
        "instances": INSTANCES,
        "cpus": 0.1,
        "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
        # Host networking: Marathon picks a port from the agent's offer and passes it as $PORT0
        # (and $PORT), where the image's httpd listens.
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [
            {
                "protocol": "MESOS_HTTP",
                "path": "/health",
                "portIndex": 0,
                "gracePeriodSeconds": 60,
                "intervalSeconds": 1,
                "timeoutSeconds": 1,
                "maxConsecutiveFailures": 3,
            }
        ],
        # One of the two may go at a time: at least one healthy instance throughout.
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
        "env": {"GEN": str(gen)},
    }


def marathon_app(ips: dict[str, str], **args: Any) -> dict[str, Any]:
    """The module as users run it: ``ansible localhost -m orchestrator.platform.marathon_app``."""
    return run_module(
        "localhost",
        "orchestrator.platform.marathon_app",
        {"urls": urls(ips), "wait_timeout": 240, **args},
        inventory="localhost,",
        options=LOCAL,
        timeout=300,
    )


def app_tasks(ips: dict[str, str]) -> list[dict[str, Any]]:
    """The app's tasks as any instance answers (standbys proxy to the leader)."""
    for url in urls(ips):
        status, body = get(f"{url}/v2/apps{APP_ID}/tasks", timeout=1.5)
        if status == 200 and isinstance(body, dict):
            return body["tasks"]
    return []


def healthy(task: dict[str, Any]) -> bool:
    results = task.get("healthCheckResults") or []
    return task.get("state") == "TASK_RUNNING" and bool(results) and all(r.get("alive") for r in results)


def serves(endpoint: tuple[str, int]) -> bool:
    """The container itself answers its health path on the agent's address."""
    host, port = endpoint
    status, _body = get(f"http://{container_ip_cached(host)}:{port}/health", timeout=1.0)
    return status == 200


_IPS: dict[str, str] = {}


def container_ip_cached(host: str) -> str:
    if host not in _IPS:
        _IPS[host] = container_ip(host)
    return _IPS[host]


class AppWatcher(threading.Thread):
    """Every 100 ms: the tasks Marathon lists (healthy ones counted) and every endpoint ever
    listed probed directly (serving ones counted), plus /ping and /v2/leader of each instance."""

    def __init__(self, ips: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.ips = ips
        self.stop_event = threading.Event()
        self.endpoints: set[tuple[str, int]] = set()
        self.samples: list[dict[str, Any]] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            tasks = app_tasks(self.ips)
            for task in tasks:
                if task.get("ports"):
                    self.endpoints.add((task["host"], int(task["ports"][0])))
            # An instance that names itself as the leader claims leadership; a standby names
            # the leader it reads from ZooKeeper, which may lag a moment behind an election.
            claims, down = [], []
            for name in MARATHONS:
                status, body = get(f"http://{self.ips[name]}:{MARATHON_PORT}/v2/leader", timeout=1.0)
                if status == -1:
                    down.append(name)
                elif status == 200 and isinstance(body, dict) and body.get("leader", "").split(":")[0] == name:
                    claims.append(name)
            self.samples.append(
                {
                    "t": now,
                    "listed": len(tasks),
                    "healthy": sum(healthy(t) for t in tasks),
                    "serving": sum(serves(e) for e in sorted(self.endpoints)),
                    "claims": claims,
                    "down": down,
                }
            )
            time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))

    def summary(self) -> dict[str, Any]:
        samples = self.samples
        gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(samples)]
        return {
            "samples": len(samples),
            "longest_sample_gap_s": round(max(gaps, default=0.0), 2),
            "min_serving": min((s["serving"] for s in samples), default=0),
            "min_healthy_listed": min((s["healthy"] for s in samples), default=0),
            "max_instances_down_at_once": max((len(s["down"]) for s in samples), default=0),
            "max_leaders_at_once": max((len(s["claims"]) for s in samples), default=0),
            "instances_seen_down": sorted({n for s in samples for n in s["down"]}),
        }


def watched(ips: dict[str, str], action) -> tuple[Any, dict[str, Any]]:
    watcher = AppWatcher(ips)
    watcher.start()
    wait_for(lambda: len(watcher.samples) >= 3, 30, "the app watcher's first samples")
    start = time.monotonic()
    try:
        result = action()
    finally:
        watcher.stop_event.set()
        watcher.join(timeout=10)
    return result, watcher.summary() | {"seconds": round(time.monotonic() - start, 1)}


def container_started(task: dict[str, Any]) -> tuple[str, str]:
    """The task's container in its agent's engine and when it started. The docker
    containerizer names it mesos-<ContainerID>; the port Marathon gave it ($PORT0) tells it
    from the others here."""
    port = task["ports"][0]
    names = docker_exec(task["host"], "docker ps --filter name=^/mesos- --format '{{.Names}}'").split()
    for name in names:
        env = docker_exec(task["host"], f"docker inspect -f '{{{{json .Config.Env}}}}' {name}")
        if f'"PORT0={port}"' in env:
            return name, docker_exec(task["host"], f"docker inspect -f '{{{{.State.StartedAt}}}}' {name}").strip()
    raise AssertionError(f"no container of task {task['id']} (port {port}) on {task['host']}: {names}")


def framework_id(ips: dict[str, str]) -> str:
    status, info = get(f"{urls(ips)[0]}/v2/info")
    assert status == 200, (status, info)
    return info["frameworkId"]


def test_one_leader_every_instance_answers_and_marathon_is_a_mesos_framework(marathon_ips, mesos_ips):
    pings = {name: get(f"http://{ip}:{MARATHON_PORT}/ping") for name, ip in marathon_ips.items()}
    assert all(answer[0] == 200 for answer in pings.values()), pings
    named = {name: get(f"http://{ip}:{MARATHON_PORT}/v2/leader")[1] for name, ip in marathon_ips.items()}
    leaders = {body["leader"] for body in named.values()}
    assert len(leaders) == 1, named
    assert leaders.pop().split(":")[0] in MARATHONS, named
    fid = framework_id(marathon_ips)
    assert fid, "Marathon has no framework id"
    mesos_leader = elected_masters(mesos_ips)
    status, frameworks = http_json(f"http://{mesos_ips[mesos_leader[0]]}:{MASTER_PORT}/master/frameworks")
    assert status == 200, status
    ours = [f for f in frameworks["frameworks"] if f["id"] == fid]
    assert ours and ours[0]["active"] and ours[0]["name"] == "marathon", frameworks["frameworks"]


@pytest.mark.disruptive
def test_an_app_keeps_serving_through_a_rolling_update_and_the_roles_rolling_restart(marathon_ips):
    results: dict[str, Any] = {}
    ips = marathon_ips
    containers: list[tuple[str, str]] = []
    try:
        # Created and healthy, as containers on the agents.
        created = marathon_app(ips, app=app_definition(0), state="present", wait=True)
        assert created.get("changed") is True and not created.get("failed"), created
        tasks = app_tasks(ips)
        assert len(tasks) == INSTANCES and all(healthy(t) for t in tasks), tasks
        assert {t["host"] for t in tasks} <= set(AGENTS), tasks
        assert all(serves((t["host"], t["ports"][0])) for t in tasks), tasks
        first_ids = {t["id"] for t in tasks}

        # Unchanged: one GET, no write, no deployment.
        again = marathon_app(ips, app=app_definition(0), state="present", wait=True)
        assert again.get("changed") is False and again.get("api_calls") == 1, again

        # A rolling update: never fewer than one healthy instance listed, or serving.
        updated, results["rolling update"] = watched(
            ips, lambda: marathon_app(ips, app=app_definition(1), state="present", wait=True)
        )
        assert updated.get("changed") is True and not updated.get("failed"), updated
        tasks = app_tasks(ips)
        assert len(tasks) == INSTANCES and all(healthy(t) for t in tasks), tasks
        assert not {t["id"] for t in tasks} & first_ids, "the update replaced no task"
        assert results["rolling update"]["min_serving"] >= 1, results
        assert results["rolling update"]["min_healthy_listed"] >= 1, results

        # The role's rolling restart of every instance: no task restarted, same framework.
        before = {t["id"]: container_started(t)[1] for t in tasks}
        fid = framework_id(ips)
        run, results["rolling restart"] = watched(ips, lambda: run_playbook(RESTART_PLAYBOOK))
        assert run.returncode == 0, run.stdout[-6000:]
        results["rolling restart"]["order"] = [ln.strip() for ln in run.stdout.splitlines() if "restart order:" in ln]
        after_tasks = app_tasks(ips)
        assert {t["id"]: container_started(t)[1] for t in after_tasks} == before, (before, after_tasks)
        containers = [(t["host"], container_started(t)[0]) for t in after_tasks]
        assert framework_id(ips) == fid
        restart = results["rolling restart"]
        assert restart["min_serving"] == INSTANCES, results
        assert restart["max_instances_down_at_once"] <= 1, results
        assert restart["max_leaders_at_once"] <= 1, results
        assert restart["instances_seen_down"] == sorted(MARATHONS), results
    finally:
        path = save_results("marathon_app_checks.json", results)
        print(f"\n=== Marathon (protocol double) app checks (saved to {path}) ===")
        for title, r in results.items():
            print(f"- {title}: {r}")
        gone = marathon_app(ips, app={"id": APP_ID}, state="absent", wait=True)
    assert not gone.get("failed"), gone
    # Its containers are gone from the agents.
    for agent, name in containers:
        wait_for(
            lambda a=agent, n=name: n not in docker_exec(a, "docker ps --format '{{.Names}}'").split(),
            60,
            f"{name} gone on {agent} after state=absent",
            interval=0.5,
        )
