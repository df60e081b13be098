"""marathon_app and marathon_info against the Marathon protocol double, run as users run them.

Marathon double processes (doubles/marathon, started as tests/doubles/marathon_double_client.py
does) elect a leader through the loopback ZooKeeper ensemble (session fixture ``zk_ensemble``).
No Mesos master listens at ``--master``: a deployment that needs a task never finishes, which
is what the wait, lock and force cases need; an app of 0 instances deploys at once. The modules
run ad hoc (``ansible localhost -m``) with this venv's Python. What they wrote is read back from
the double over plain HTTP, not from the modules.

The last test puts the Marathon double on the Mesos double (a master and a Docker agent, as
tests/doubles/test_marathon_tasks.py does) so that deployments finish for real: tasks run as
containers of the image of tools/build-task-image, health-checked.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import threading
import time
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
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import Proc, agent_args, master_args
from ansible_collections.orchestrator.platform.tests.support.ansible_run import LOCAL, run_module
from ansible_collections.orchestrator.platform.tests.support.ports import free_port

pytestmark = pytest.mark.slow

NO_MESOS = f"127.0.0.1:{free_port()}"  # nothing listens there
IDLE = {"id": "/it/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 0}


@pytest.fixture
def marathons() -> Iterator[list[Marathon]]:
    """The doubles a test started; killed and their logs removed afterwards."""
    started: list[Marathon] = []
    yield started
    for m in started:
        m.kill()
        os.unlink(m.log.name)


def start(zk_ensemble: Any, marathons: list[Marathon], zk: str | None = None) -> Marathon:
    m = Marathon(zk or zk_url(zk_ensemble), NO_MESOS)
    marathons.append(m)
    return m.wait_up()


def app_module(m: Marathon, *options: str, **args: Any) -> dict:
    full = {"urls": [f"http://{m.host_port}"], "poll_interval": 0.1, "retries": 0, **args}
    return run_module(
        "localhost",
        "orchestrator.platform.marathon_app",
        full,
        inventory="localhost,",
        options=(*LOCAL, *options),
        timeout=180,
    )


def info_module(urls: list[str], **args: Any) -> dict:
    return run_module(
        "localhost",
        "orchestrator.platform.marathon_info",
        {"urls": urls, "retries": 0, **args},
        inventory="localhost,",
        options=LOCAL,
        timeout=120,
    )


def served(m: Marathon, app_id: str) -> dict | None:
    status, _h, body = call(m.port, "GET", f"/v2/apps{app_id}")
    return body["app"] if status == 200 else None


def test_app_created_rerun_unchanged_check_mode_typo_and_absent(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    # Check mode first: changed, and nothing on the server.
    result = app_module(m, "--check", app=IDLE)
    assert not result.get("failed"), result
    assert result["changed"] is True and served(m, "/it/web") is None
    # Created; the deployment (no task to start) is waited for until it leaves /v2/deployments.
    result = app_module(m, app=IDLE)
    assert not result.get("failed"), result
    assert result["changed"] is True and result["deployment_id"]
    assert result["waited"] is not None and result["app"]["id"] == "/it/web"
    app = served(m, "/it/web")
    assert app is not None and app["cmd"] == "sleep 1000" and app["deployments"] == []
    assert result["deployment_id"] not in [d["id"] for d in get_json(m.port, "/v2/deployments")]
    # Rerun: one GET, no deployment, the version unchanged.
    result = app_module(m, app=IDLE)
    assert not result.get("failed"), result
    assert result["changed"] is False and result["api_calls"] == 1 and result["differences"] == []
    assert served(m, "/it/web")["version"] == app["version"]
    # Check mode with a change, in diff mode: reported, not made.
    result = app_module(m, "--check", "--diff", app={**IDLE, "cmd": "sleep 2000"})
    assert not result.get("failed"), result
    assert result["changed"] is True and result["differences"] == ["/cmd"]
    assert result["diff"]["before"]["cmd"] == "sleep 1000" and result["diff"]["after"]["cmd"] == "sleep 2000"
    assert served(m, "/it/web")["cmd"] == "sleep 1000"
    # A typo Marathon would ignore is refused before any request.
    result = app_module(m, app={**IDLE, "instance": 3, "cmd": "sleep 3000"})
    assert result.get("failed") and "/instance: unknown field 'instance'" in result["msg"], result
    assert result["api_calls"] == 0 and served(m, "/it/web")["cmd"] == "sleep 1000"
    # A real update, replacing the definition.
    result = app_module(m, app={**IDLE, "cmd": "sleep 2000", "labels": {"team": "ops"}})
    assert not result.get("failed"), result
    assert result["changed"] is True and served(m, "/it/web")["labels"] == {"team": "ops"}
    # Absent, then absent again.
    result = app_module(m, app_id="/it/web", state="absent")
    assert not result.get("failed"), result
    assert result["changed"] is True and served(m, "/it/web") is None
    result = app_module(m, app_id="/it/web", state="absent")
    assert not result.get("failed") and result["changed"] is False and result["api_calls"] == 1, result


def test_stuck_deployment_timeout_lock_and_force(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    stuck = {**IDLE, "id": "/it/stuck", "instances": 1}
    # Without Mesos the task never starts: the wait times out naming the step and the counts.
    result = app_module(m, app=stuck, wait_timeout=2)
    assert result.get("failed"), result
    # A new app's plan (DeploymentPlan): StartApplication (0 instances), then ScaleApplication.
    assert "deployment not finished after 2s" in result["msg"]
    assert "at step 2/2 (ScaleApplication /it/stuck)" in result["msg"]
    assert "instances 1" in result["msg"] and "tasksRunning 0" in result["msg"]
    first = get_json(m.port, "/v2/deployments")[0]["id"]
    # Another change while it runs: Marathon answers 409; the module names the deployment.
    result = app_module(m, app={**stuck, "instances": 2}, wait=False)
    assert result.get("failed") and f"locked by deployment(s) {first}" in result["msg"], result
    assert served(m, "/it/stuck")["instances"] == 1
    # Waiting for the lock a little does not help here either.
    result = app_module(m, app={**stuck, "instances": 2}, wait=False, lock_timeout=1)
    assert result.get("failed") and "stayed locked" in result["msg"], result
    # force=true, only because it is asked for, replaces the deployment.
    result = app_module(m, app={**stuck, "instances": 2}, wait=False, force=True)
    assert not result.get("failed"), result
    assert result["changed"] is True and served(m, "/it/stuck")["instances"] == 2
    assert [d["id"] for d in get_json(m.port, "/v2/deployments")] == [result["deployment_id"]]


def test_info_and_urls_in_order_through_a_standby(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    zk = zk_url(zk_ensemble)
    leader = start(zk_ensemble, marathons, zk)
    wait_for(lambda: call(leader.port, "GET", "/v2/leader")[0] == 200, 20, "a leader")
    standby = start(zk_ensemble, marathons, zk)
    wait_for(lambda: call(standby.port, "GET", "/v2/leader")[0] == 200, 20, "the standby to see the leader")
    call(leader.port, "PUT", "/v2/apps/it/idle", {"cmd": "sleep 1", "instances": 0})
    dead = f"http://127.0.0.1:{free_port()}"
    # The first URL is down, the second is a standby that proxies to the leader.
    result = info_module([dead, f"http://{standby.host_port}"])
    assert not result.get("failed"), result
    assert result["url"] == f"http://{standby.host_port}"
    assert result["leader"] == leader.host_port
    # The standby proxies every path, /v2/info included: the leader's own info (elected).
    assert result["info"]["zk"] == zk and result["info"]["elected"] is True
    assert result["info"]["leader"] == leader.host_port
    assert [a["id"] for a in result["apps"]] == ["/it/idle"]
    assert isinstance(result["deployments"], list) and isinstance(result["queue"], list)
    one = info_module([f"http://{leader.host_port}"], app_id="/it/idle", gather=["apps"])
    assert not one.get("failed") and one["app"]["id"] == "/it/idle" and one["api_calls"] == 1, one
    # marathon_app through the standby too: unchanged is still one call.
    result = app_module(standby, app={"id": "/it/idle", "cmd": "sleep 1", "instances": 0}, update_mode="merge")
    assert not result.get("failed") and result["changed"] is False and result["api_calls"] == 1, result


# ------------------------------------------------------------------------------------------
# On the Mesos double: deployments that finish
# ------------------------------------------------------------------------------------------

IMAGE = "orchestrator-platform/task-busybox:1"  # tools/build-task-image
LABEL = f"orchestrator-platform.marathon-it={uuid.uuid4().hex[:12]}"


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def mesos(zk_ensemble: Any, tmp_path: Path) -> Iterator[str]:
    """A Mesos double master and one Docker agent; the Mesos zk URL. This run's containers removed after."""
    res = subprocess.run(
        [str(REPO / "tools" / "build-task-image")], capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, f"tools/build-task-image failed:\n{res.stdout}\n{res.stderr}"
    mesos_zk = f"zk://{zk_ensemble.connect_string}/mesos-it-{uuid.uuid4().hex[:8]}"
    started: list[Proc] = []
    try:
        port = free_port()
        master_flags = master_args(port, tmp_path, f"--zk={mesos_zk}", "--quorum=1", "--registry=in_memory")
        started.append(Proc("master", master_flags).wait_http())
        agent_flags = agent_args(
            free_port(),
            mesos_zk,
            tmp_path / "agent",
            "--containerizers=docker,mesos",
            resources="cpus:2;mem:1024;disk:2048;ports:[31000-31999]",
        )
        started.append(Proc("agent", agent_flags).wait_http())
        wait_for(lambda: get_json(port, "/master/slaves")["slaves"], 20, "the agent's registration")
        yield mesos_zk
    finally:
        for proc in started:
            proc.kill()
            os.unlink(proc.log.name)
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
        if ids:
            docker("rm", "-f", *ids)


def marathon_time(stamp: str) -> float:
    """Seconds since the epoch of a Marathon event timestamp (``2015-09-30T12:44:30.061Z``)."""
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_wait_for_real_deployments_on_the_mesos_double(zk_ensemble: Any, marathons: list[Marathon], mesos: str) -> None:
    m = Marathon(zk_url(zk_ensemble), mesos)
    marathons.append(m)
    m.wait_up()
    wait_for(lambda: get_json(m.port, "/v2/info")["frameworkId"], 30, "the framework id")
    events = Events(m.port)
    check = {"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 1,
             "timeoutSeconds": 1, "delaySeconds": 0, "maxConsecutiveFailures": 3}  # fmt: skip
    app = {
        "id": "/it/roll",
        "instances": 2,
        "cpus": 0.1,
        "mem": 32,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE, "parameters": [{"key": "label", "value": LABEL}]}},
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [check],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
        "env": {"GEN": "1"},
    }
    try:
        # Created and waited for: the module returns when both tasks run and are healthy.
        result = app_module(m, app=app, wait_timeout=180)
        assert not result.get("failed"), result
        served_app = served(m, "/it/roll")
        assert served_app is not None and served_app["deployments"] == []
        assert (served_app["tasksRunning"], served_app["tasksHealthy"]) == (2, 2)
        assert result["app"]["tasksHealthy"] == 2
        # Unchanged, with its assigned service port and the health check defaults: one GET.
        result = app_module(m, app=app)
        assert not result.get("failed") and result["changed"] is False and result["api_calls"] == 1, result
        # A rolling update, waited for; the module returns soon after Marathon reports success.
        result = app_module(m, app={**app, "env": {"GEN": "2"}}, wait_timeout=240)
        returned = time.time()
        assert not result.get("failed"), result
        success = events.wait("deployment_success", 30, id=result["deployment_id"])
        final = served(m, "/it/roll")
        assert final is not None and final["tasksHealthy"] == 2
        assert {t["version"] for t in final["tasks"]} == {final["version"]}
        lag = returned - marathon_time(success["timestamp"])
        print(f"deployment_success at {success['timestamp']}, module returned {lag:.3f}s later (ansible included)")
        # Ansible's own exit is in that figure; the module itself polls every 0.1 s here.
        assert lag < 5, lag
        # Gone, and its containers with it.
        result = app_module(m, app_id="/it/roll", state="absent", wait_timeout=120)
        assert not result.get("failed") and result["changed"] is True, result
        assert served(m, "/it/roll") is None
        wait_for(lambda: not docker("ps", "-q", "--filter", f"label={LABEL}").stdout.split(), 60, "no containers")
    finally:
        events.close()


def test_scale_with_instances_through_a_leader_abdication(
    zk_ensemble: Any, marathons: list[Marathon], mesos: str
) -> None:
    """``instances`` scales up while the leader abdicates in the middle of the wait: the module
    follows the new leader through its other URL, every task survives, the framework stays."""
    zk = zk_url(zk_ensemble)
    first = Marathon(zk, mesos)
    marathons.append(first)
    first.wait_up()
    wait_for(lambda: get_json(first.port, "/v2/info")["frameworkId"], 30, "the framework id")
    second = Marathon(zk, mesos)
    marathons.append(second)
    second.wait_up()
    assert leader_of([first.port, second.port]) == first.port
    framework = get_json(first.port, "/v2/info")["frameworkId"]
    urls = [f"http://{first.host_port}", f"http://{second.host_port}"]
    app = {
        "id": "/it/scale",
        "instances": 1,
        "cpus": 0.05,
        "mem": 16,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE, "parameters": [{"key": "label", "value": LABEL}]}},
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": 1}],
    }
    result = app_module(first, app=app, urls=urls, wait_timeout=180)
    assert not result.get("failed") and result["changed"] is True, result
    original = {t["id"] for t in get_json(first.port, "/v2/apps/it/scale")["app"]["tasks"]}
    assert len(original) == 1

    abdicated: list[tuple[int, Any]] = []

    def abdicate_once_deploying() -> None:
        wait_for(lambda: get_json(first.port, "/v2/deployments"), 60, "the scaling deployment")
        status, _h, body = call(first.port, "DELETE", "/v2/leader")
        abdicated.append((status, body))

    thread = threading.Thread(target=abdicate_once_deploying, daemon=True)
    thread.start()
    result = app_module(first, app_id="/it/scale", instances=3, urls=urls, retries=10, wait_timeout=180)
    thread.join(timeout=70)
    assert not result.get("failed") and result["changed"] is True, result
    assert abdicated == [(200, {"message": "Leadership abdicated"})], abdicated
    # The abdicated leader ended (as Marathon does, for its supervisor to restart it); the
    # other one leads with the same framework and every task, the first one included.
    wait_for(lambda: first.popen.poll() is not None, 10, "the abdicated leader's exit")
    assert leader_of([second.port]) == second.port
    assert get_json(second.port, "/v2/info")["frameworkId"] == framework
    scaled = served(second, "/it/scale")
    assert scaled is not None and (scaled["instances"], scaled["tasksHealthy"]) == (3, 3), scaled
    assert original <= {t["id"] for t in scaled["tasks"]}

    # Down to 1, waited for; one container left.
    result = app_module(second, app_id="/it/scale", instances=1, wait_timeout=120)
    assert not result.get("failed") and result["changed"] is True, result
    down = served(second, "/it/scale")
    assert down is not None and (down["instances"], down["tasksRunning"]) == (1, 1), down
    wait_for(
        lambda: len(docker("ps", "-q", "--filter", f"label={LABEL}").stdout.split()) == 1, 60, "one container left"
    )
