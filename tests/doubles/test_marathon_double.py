"""Facts the Marathon protocol double (doubles/marathon/marathon_double) must keep.

Each test pins upstream mesosphere/marathon v1.10.26 behaviour (named in the double's module
docstrings): flags, the REST v2 apps API and its errors, leader election and state in the REAL
loopback ZooKeeper ensemble of tests/fixtures (fixture ``zk_ensemble``), proxying, abdication
and the event stream. The Mesos master named by ``--master`` does not exist here, so every
deployment stays running: that is what the lock tests need. Tasks on a Mesos double are in
test_marathon_tasks.py.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import uuid
from typing import Any

from ansible_collections.orchestrator.platform.tests.doubles.marathon_double_client import (
    DOUBLE,
    PYTHON,
    REFERENCE,
    Events,
    Marathon,
    call,
    get_json,
    leader_of,
    request,
    wait_for,
    zk_url,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.zk_client import kazoo_client
from kazoo.exceptions import NoAuthError

sys.path.insert(0, str(DOUBLE.parent))
from marathon_double import flags as mflags
from marathon_double.api import Api
from marathon_double.core import Core
from marathon_double.events import EventBus
from marathon_double.scheduler import Instance

NO_MESOS = f"127.0.0.1:{free_port()}"  # nothing listens there
APP = {"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1}


def start(zk_ensemble: Any, marathons: list[Marathon], *extra: str, zk: str | None = None) -> Marathon:
    m = Marathon(zk or zk_url(zk_ensemble), NO_MESOS, *extra)
    marathons.append(m)
    return m.wait_up()


def test_flags_as_scallop_and_the_environment_as_main_env_to_args() -> None:
    flags = mflags.parse(["--master", "zk://h:2181/mesos", "--http_port=9090", "--disable_ha"], env={})
    assert (flags["master"], flags["http_port"], flags["ha"]) == ("zk://h:2181/mesos", 9090, False)
    assert flags["failover_timeout"] == 604800 and flags["zk_session_timeout"] == 10000
    # Main.envToArgs: MARATHON_X=v is --x v, an empty value a bare flag, MARATHON_APP_* skipped.
    env = {"MARATHON_MASTER": "127.0.0.1:5050", "MARATHON_CHECKPOINT": "", "MARATHON_APP_ID": "/x"}
    flags = mflags.parse([], env=env)
    assert flags["master"] == "127.0.0.1:5050" and flags["checkpoint"] is True
    for argv, text in (
        (["--master=m", "--no_such_flag=1"], "Unknown option 'no_such_flag'"),
        ([], "Required option 'master' not found"),
        (["--master=m", "--http_port=abc"], "Bad arguments for option 'http_port'"),
        (["--master=m", "--master=n"], "Option 'master' is specified multiple times"),
    ):
        try:
            mflags.parse(argv, env={})
        except mflags.FlagError as exc:
            assert text in str(exc)
        else:
            raise AssertionError(f"{argv} accepted")
    # The same flag from the environment and the command line is refused (command-line-flags.md).
    try:
        mflags.parse(["--master=m"], env={"MARATHON_MASTER": "n"})
    except mflags.FlagError as exc:
        assert "multiple times" in str(exc)
    else:
        raise AssertionError("accepted twice")


def test_http_credentials_and_sigterm(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    zk = zk_url(zk_ensemble)
    m = Marathon(zk, NO_MESOS, env={"MARATHON_HTTP_CREDENTIALS": "ops:s3cret"})
    marathons.append(m)
    basic = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()}
    wait_for(lambda: request(m.port, "GET", "/ping", headers=basic)[0] == 200, 20, "the API", details=m.output)
    status, headers, _b = request(m.port, "GET", "/v2/apps")
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="Mesosphere"'
    assert call(m.port, "GET", "/v2/apps", headers=basic)[0:3:2] == (200, {"apps": []})
    other = Marathon(zk, NO_MESOS, "--http_credentials=ops:s3cret")
    marathons.append(other)
    wait_for(
        lambda: request(other.port, "GET", "/ping", headers=basic)[0] == 200, 20, "the standby", details=other.output
    )
    # SIGTERM closes the latch: the standby leads at once, not after the session timeout.
    m.kill(signal.SIGTERM)
    assert m.popen.returncode == 143
    wait_for(
        lambda: (
            request(other.port, "GET", "/v2/leader", headers=basic)[2] == b'{"leader":"%s"}' % other.host_port.encode()
        ),
        5,
        "the standby to lead",
    )


def test_unknown_flag_exits_112_and_help_says_it_is_a_double() -> None:
    res = subprocess.run(
        [PYTHON, str(DOUBLE), "--master=m", "--bogus"], capture_output=True, text=True, timeout=30, check=False
    )
    assert res.returncode == 112 and "Unknown option 'bogus'" in res.stderr
    res = subprocess.run([PYTHON, str(DOUBLE), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0 and "THIS IS A PROTOCOL DOUBLE of Marathon" in res.stdout


def test_app_lifecycle_answers_as_apps_resource(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    assert request(m.port, "GET", "/ping")[2] == b"pong"
    # POST: 201, the app with its deployment, Location and Marathon-Deployment-Id.
    status, headers, body = call(m.port, "POST", "/v2/apps", {**APP, "id": "web", "unknownField": 1})
    assert status == 201, body
    assert headers["Location"] == f"http://127.0.0.1:{m.port}/web"
    assert body["id"] == "/web" and "unknownField" not in body
    assert body["deployments"] == [{"id": headers["Marathon-Deployment-Id"]}]
    assert headers["X-Marathon-Leader"] == f"http://127.0.0.1:{m.port}"
    assert call(m.port, "POST", "/v2/apps", APP)[0:3:2] == (409, {"message": "An app with id [/web] already exists."})
    # GET: normalised, defaults filled, server fields.
    app = get_json(m.port, "/v2/apps/web")["app"]
    for key, value in {
        "backoffFactor": 1.15,
        "backoffSeconds": 1,
        "maxLaunchDelaySeconds": 300,
        "disk": 0,
        "gpus": 0,
        "executor": "",
        "requirePorts": False,
        "killSelection": "YOUNGEST_FIRST",
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "networks": [{"mode": "host"}],
        "labels": {},
        "tasksRunning": 0,
        "tasksStaged": 0,
        "tasksHealthy": 0,
        "tasksUnhealthy": 0,
        "tasks": [],
    }.items():
        assert app[key] == value, key
    assert app["versionInfo"] == {"lastScalingAt": app["version"], "lastConfigChangeAt": app["version"]}
    [port_def] = app["portDefinitions"]
    assert port_def["port"] >= 10000 and port_def["protocol"] == "tcp" and port_def["name"] == "default"
    assert app["deployments"] == [{"id": headers["Marathon-Deployment-Id"]}]
    # The deployment holds the app (no Mesos here): 409 with the deployment ids.
    status, _h, body = call(m.port, "PUT", "/v2/apps/web", {"instances": 2})
    assert status == 409 and body["message"].startswith("App is locked by one or more deployments.")
    assert body["deployments"] == [{"id": headers["Marathon-Deployment-Id"]}]
    # force=true replaces the deployment; PUT on an existing app: 200, {version, deploymentId}, header.
    status, h2, body = call(m.port, "PUT", "/v2/apps/web?force=true", {"instances": 2})
    assert status == 200 and set(body) == {"version", "deploymentId"}
    assert h2["Marathon-Deployment-Id"] == body["deploymentId"]
    app2 = get_json(m.port, "/v2/apps/web")["app"]
    # partialUpdate (default true) kept cmd; a scale changes lastScalingAt only.
    assert app2["cmd"] == "sleep 1000" and app2["instances"] == 2
    assert app2["versionInfo"]["lastConfigChangeAt"] == app["version"] != app2["versionInfo"]["lastScalingAt"]
    deployments = get_json(m.port, "/v2/deployments")
    assert [d["id"] for d in deployments] == [body["deploymentId"]]
    assert deployments[0]["steps"] == [{"actions": [{"action": "ScaleApplication", "app": "/web"}]}]
    assert deployments[0]["affectedApps"] == ["/web"] and deployments[0]["totalSteps"] == 1
    # partialUpdate=false replaces: omitted fields go back to their defaults.
    status, _h, body = call(m.port, "PUT", "/v2/apps/web?force=true&partialUpdate=false", {"cmd": "sleep 5"})
    assert status == 200
    app3 = get_json(m.port, "/v2/apps/web")["app"]
    assert (app3["instances"], app3["cpus"], app3["mem"]) == (1, 1, 128)
    # PUT on a missing app creates it: 201 {version, deploymentId}.
    status, h3, body = call(m.port, "PUT", "/v2/apps/other", {"cmd": "sleep 1", "instances": 0})
    assert status == 201 and h3["Marathon-Deployment-Id"] == body["deploymentId"]
    # PATCH does not create.
    assert call(m.port, "PATCH", "/v2/apps/missing", {"instances": 1})[0] == 404
    # DELETE defaults to force=true: no 409 for a locked app.
    status, _h, body = call(m.port, "DELETE", "/v2/apps/web")
    assert status == 200 and "deploymentId" in body
    assert call(m.port, "GET", "/v2/apps/web")[0:3:2] == (404, {"message": "App '/web' does not exist"})
    # An unchanged PUT: 200, a deployment id, the same version.
    before = get_json(m.port, "/v2/apps/other")["app"]["version"]
    status, _h, body = call(m.port, "PUT", "/v2/apps/other", {"cmd": "sleep 1"})
    assert status == 200 and body["version"] == before


def test_validation_errors_are_upstreams(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    status, _h, body = call(m.port, "POST", "/v2/apps", b"{not json")
    assert status == 400 and body["message"] == "Invalid JSON"
    # AppValidation: Object is not valid, details with paths.
    status, _h, body = call(m.port, "POST", "/v2/apps", {"id": "/noc"})
    assert status == 422 and body["message"] == "Object is not valid"
    assert body["details"] == [
        {"path": "/", "errors": ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]}
    ]
    status, _h, body = call(m.port, "POST", "/v2/apps", {"id": "/Bad_Id", "cmd": "sleep 1"})
    assert status == 422 and body["details"][0]["path"] == "/id"
    # Play reads: Invalid JSON with error keys, 422.
    status, _h, body = call(
        m.port,
        "POST",
        "/v2/apps",
        {"id": "/x", "cmd": "sleep 1", "cpus": 0, "upgradeStrategy": {"minimumHealthCapacity": 2}},
    )
    assert status == 422 and body["message"] == "Invalid JSON"
    paths = {d["path"]: d["errors"] for d in body["details"]}
    assert paths == {"/cpus": ["error.min"], "/upgradeStrategy/minimumHealthCapacity": ["error.max"]}
    status, _h, body = call(m.port, "POST", "/v2/apps", {"cmd": "sleep 1"})
    assert status == 422 and body["details"] == [{"path": "/id", "errors": ["error.path.missing"]}]
    assert get_json(m.port, "/v2/apps") == {"apps": []}


def test_get_matches_the_reference_example_shape(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    # Keys of upstream's app example that a server fills are all there after a POST of the example.
    example = json.loads((REFERENCE / "examples" / "app.json").read_text())
    m = start(zk_ensemble, marathons)
    docker = {
        "type": "DOCKER",
        "docker": {"image": "busybox", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]},
    }
    app = {"id": "/shape", "cmd": "sleep 1", "container": docker, "instances": 0}
    assert call(m.port, "POST", "/v2/apps", app)[0] == 201
    got = get_json(m.port, "/v2/apps/shape")["app"]
    server_filled = {
        "backoffFactor",
        "backoffSeconds",
        "maxLaunchDelaySeconds",
        "upgradeStrategy",
        "labels",
        "executor",
    }
    assert server_filled <= set(example) and server_filled <= set(got)
    # AppNormalization: docker.network BRIDGE -> networks container/bridge, mappings move up.
    assert got["networks"] == [{"mode": "container/bridge"}]
    assert "network" not in got["container"]["docker"] and "portMappings" not in got["container"]["docker"]
    [mapping] = got["container"]["portMappings"]
    assert mapping["containerPort"] == 80 and mapping["hostPort"] == 0 and mapping["servicePort"] >= 10000
    assert "portDefinitions" not in got


def test_leader_in_zookeeper_failover_keeps_apps_and_standbys_proxy(
    zk_ensemble: Any,
    marathons: list[Marathon],
) -> None:
    zk = zk_url(zk_ensemble)
    first = start(zk_ensemble, marathons, zk=zk)
    second = start(zk_ensemble, marathons, zk=zk)
    leader = wait_for(lambda: leader_of([first.port, second.port]), 20, "one leader")
    assert leader == first.port
    path = zk.split("/", 3)[3]
    with kazoo_client(zk_ensemble.connect_string) as client:
        latches = sorted(client.get_children(f"/{path}/leader-curator"), key=lambda n: int(n.rsplit("-", 1)[1]))
        assert len(latches) == 2 and all(n.startswith("_c_") and "-latch-" in n for n in latches)
        assert client.get(f"/{path}/leader-curator/{latches[0]}")[0] == first.host_port.encode()
    # A standby proxies (X-Marathon-Leader, X-Marathon-Via) and /ping too; /v2/events is a redirect.
    status, headers, body = call(second.port, "POST", "/v2/apps", {**APP, "id": "/kept"})
    assert status == 201 and body["id"] == "/kept"
    assert headers["X-Marathon-Leader"] == f"http://{first.host_port}" and "X-Marathon-Via" in headers
    assert "X-Marathon-Leader" in request(second.port, "GET", "/ping")[1]
    status, headers, _b = request(second.port, "GET", "/v2/events")
    assert status == 302 and headers["Location"] == f"http://{first.host_port}/v2/events"
    info = get_json(second.port, "/v2/info")
    assert info["leader"] == first.host_port and info["elected"] is True and "NOT Marathon" in info["buildref"]
    assert info["zookeeper_config"]["zk"] == zk and info["marathon_config"]["master"] == NO_MESOS
    # The leader dies: the standby leads with every app.
    first.kill()
    wait_for(lambda: leader_of([second.port]) == second.port, 30, "the standby to lead")
    assert get_json(second.port, "/v2/apps/kept")["app"]["cmd"] == "sleep 1000"
    assert len(get_json(second.port, "/v2/deployments")) == 1  # the unfinished deployment too
    # Abdication: 200 "Leadership abdicated", then the process exits (LeadershipEndedGracefully).
    assert call(second.port, "DELETE", "/v2/leader")[0:3:2] == (200, {"message": "Leadership abdicated"})
    assert second.popen.wait(timeout=15) == 105


def test_no_leader_is_502_and_session_loss_ends_the_process(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    zk = zk_url(zk_ensemble)
    path = "/" + zk.split("/", 3)[3]
    with kazoo_client(zk_ensemble.connect_string) as client:
        # A participant ahead of the double whose latch names nobody: no leader can be determined.
        client.ensure_path(f"{path}/leader-curator")
        blocker = client.create(f"{path}/leader-curator/_c_x-latch-", b"", ephemeral=True, sequence=True)
        standby = Marathon(zk, NO_MESOS, "--zk_session_timeout=3000")
        marathons.append(standby)
        wait_for(lambda: request(standby.port, "GET", "/ping", timeout=10)[0] == 502, 30, "502 without a leader")
        status, _h, body = call(standby.port, "GET", "/v2/apps", timeout=10)
        assert (status, body) == (502, {"message": "Could not determine the current leader"})
        client.delete(blocker)
        wait_for(lambda: leader_of([standby.port]) == standby.port, 30, "leadership once the blocker is gone")
    # Any break of the ZooKeeper connection ends Marathon (CrashStrategy.ZookeeperConnectionLoss).
    killed = list(zk_ensemble.members)[:2]
    try:
        for member in killed:
            member.kill()
        assert standby.popen.wait(timeout=30) == 101
    finally:
        for member in killed:
            member.start()
        zk_ensemble.wait_for_quorum()


def test_event_stream_frames(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    events = Events(m.port)
    assert "200" in events.status_line and events.headers["content-type"].startswith("text/event-stream")
    # Jetty's EventSourceServlet: without Accept: text/event-stream the GET falls through to 405.
    assert request(m.port, "GET", "/v2/events", headers={"Accept": "*/*"})[0] == 405
    assert events.headers["transfer-encoding"] == "chunked"
    events.wait("event_stream_attached")
    filtered = Events(m.port, "?event_type=deployment_info")
    _s, headers, _b = call(m.port, "POST", "/v2/apps", {**APP, "id": "/sse"})
    posted = events.wait("api_post_event", uri="/v2/apps")
    assert posted["appDefinition"]["id"] == "/sse" and posted["eventType"] == "api_post_event"
    info = events.wait("deployment_info")
    assert (
        info["plan"]["id"] == headers["Marathon-Deployment-Id"] and info["currentStep"]["actions"][0]["app"] == "/sse"
    )
    filtered.wait("deployment_info")
    assert {name for name, _d in filtered.events} == {"deployment_info"}
    # One frame per chunk: "event: <type>\ndata: <json>\n\n".
    for chunk in events.chunks:
        head, data, rest = chunk.split(b"\n", 2)
        assert head.startswith(b"event: ") and data.startswith(b"data: ") and rest == b"\n"
    events.close()
    filtered.close()


def test_deployment_rollback_force_and_small_resources(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    m = start(zk_ensemble, marathons)
    _s, headers, _b = call(m.port, "POST", "/v2/apps", {**APP, "id": "/rb"})
    first = headers["Marathon-Deployment-Id"]
    # DELETE /v2/deployments/{id}: the rollback is a new deployment (200, header); the app's
    # target goes back to the original (no app: it is removed again).
    status, headers, body = call(m.port, "DELETE", f"/v2/deployments/{first}")
    assert status == 200 and headers["Marathon-Deployment-Id"] == body["deploymentId"] != first
    assert call(m.port, "GET", "/v2/apps/rb")[0] == 404  # nothing ran: the StopApplication step is done at once
    # Rolling back a scale: the app's instances go back to the original definition's.
    call(m.port, "POST", "/v2/apps", {**APP, "id": "/rb2"})
    _s, _h, body = call(m.port, "PUT", "/v2/apps/rb2?force=true", {"instances": 3})
    status, _h, back = call(m.port, "DELETE", f"/v2/deployments/{body['deploymentId']}")
    assert status == 200 and get_json(m.port, "/v2/apps/rb2")["app"]["instances"] == 1
    assert [d["id"] for d in get_json(m.port, "/v2/deployments") if d["affectedApps"] == ["/rb2"]] == [
        back["deploymentId"]
    ]
    # force=true: 202, the deployment stops, nothing is rolled back.
    _s, headers, _b = call(m.port, "POST", "/v2/apps", {**APP, "id": "/kept"})
    dep = headers["Marathon-Deployment-Id"]
    assert request(m.port, "DELETE", f"/v2/deployments/{dep}?force=true")[0] == 202
    assert dep not in [d["id"] for d in get_json(m.port, "/v2/deployments")]
    assert get_json(m.port, "/v2/apps/kept")["app"]["deployments"] == []
    assert call(m.port, "DELETE", "/v2/deployments/nope")[0:3:2] == (
        404,
        {"message": "DeploymentPlan nope does not exist"},
    )
    # Restart: a RestartApplication deployment with a new version.
    status, _h, body = call(m.port, "POST", "/v2/apps/kept/restart")
    assert status == 200 and body["deploymentId"] in [d["id"] for d in get_json(m.port, "/v2/deployments")]
    # Reserved last segments, an unknown route (Jersey's NotFoundException is a 500 upstream).
    status, _h, body = call(m.port, "POST", "/v2/apps", {"id": "/a/versions", "cmd": "sleep 1"})
    assert status == 422 and "reserved keywords" in body["details"][0]["errors"][0]
    assert call(m.port, "GET", "/v2/nothing")[0:3:2] == (500, {"message": "URI not found"})
    # /ping as SystemResource negotiates it.
    assert request(m.port, "GET", "/ping", headers={"Accept": "application/json"})[2] == b'"pong"'
    assert request(m.port, "GET", "/ping", headers={"Accept": "image/png"})[0] == 204
    # Metrics: Dropwizard names <prefix>.<name>.<type>, Prometheus with underscores.
    metrics = get_json(m.port, "/metrics")
    assert metrics["version"] == "4.0.0" and metrics["gauges"]["marathon.apps.active.gauge"]["value"] == 2.0
    assert "marathon.deployments.active.gauge" in metrics["gauges"]
    text = request(m.port, "GET", "/metrics/prometheus")[2].decode()
    assert "# TYPE marathon_deployments_active_gauge gauge\nmarathon_deployments_active_gauge " in text


def test_zk_credentials_make_the_nodes_creator_only(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    # ZookeeperConf.zkDefaultCreationACL: CREATOR_ALL_ACL when the URL has user:password; the
    # URL is redacted in /v2/info (ZkUrl.redactedConnectionString).
    path = f"marathon-acl-{uuid.uuid4().hex[:8]}"
    m = start(zk_ensemble, marathons, zk=f"zk://ops:pw@{zk_ensemble.connect_string}/{path}")
    assert call(m.port, "POST", "/v2/apps", {**APP, "id": "/secret"})[0] == 201
    info = get_json(m.port, "/v2/info")
    assert info["zookeeper_config"]["zk"] == f"zk://xxxxxxxx:xxxxxxxx@{zk_ensemble.connect_string}/{path}"
    with kazoo_client(zk_ensemble.connect_string, auth=("ops", "pw")) as owner:
        acl, _stat = owner.get_acls(f"/{path}/leader-curator")
        assert [(a.id.scheme, a.perms) for a in acl] == [("digest", 31)]
        assert owner.get_children(f"/{path}/state")
    with kazoo_client(zk_ensemble.connect_string) as client:
        try:
            client.get_children(f"/{path}/state")
        except NoAuthError:
            pass
        else:
            raise AssertionError("the state is readable without credentials")


class _NoStore:
    """Stands in for the ZooKeeper store of an in-process Core: nothing is kept."""

    def put(self, *args: Any) -> None:
        pass

    def remove(self, *args: Any) -> None:
        pass


def test_metrics_uptime_leadership_and_launch_overdue_as_upstream(zk_ensemble: Any, marathons: list[Marathon]) -> None:
    # Upstream v1.10.26: GroupManagerModule closureGauge("uptime", ..., UnitOfMeasurement.Time) and
    # ElectionService closureGauge("leadership.duration", ..., Time) are seconds (Doubles), named
    # <prefix>.<name>.gauge.seconds by DropwizardMetrics.constructName; OverdueInstancesActor's
    # settableGauge("instances.launch-overdue") is a Long.
    m = start(zk_ensemble, marathons)
    gauges = get_json(m.port, "/metrics")["gauges"]
    uptime = gauges["marathon.uptime.gauge.seconds"]["value"]
    leading = gauges["marathon.leadership.duration.gauge.seconds"]["value"]
    assert isinstance(uptime, float) and 0 <= leading <= uptime < 300, (leading, uptime)
    assert gauges["marathon.instances.launch-overdue.gauge"]["value"] == 0
    assert not [
        name
        for name in gauges
        if name.startswith(("marathon.uptime.gauge", "marathon.leadership")) and not name.endswith(".seconds")
    ]
    text = request(m.port, "GET", "/metrics/prometheus")[2].decode()
    for name in ("marathon_uptime_gauge_seconds", "marathon_leadership_duration_gauge_seconds"):
        assert f"# TYPE {name} gauge\n{name} " in text, name
    assert "# TYPE marathon_instances_launch_overdue_gauge gauge\nmarathon_instances_launch_overdue_gauge 0\n" in text

    # OverdueInstancesActor.overdueInstances, in process (its first check comes 30 s into a
    # leadership): launched and unconfirmed beyond --task_launch_confirm_timeout, or staging
    # beyond --task_launch_timeout; the gauge counts them at each check until they are gone.
    flags = mflags.parse(["--master=m", "--task_launch_timeout=60000", "--task_launch_confirm_timeout=10000"], env={})
    store: Any = _NoStore()
    core = Core(flags, store, EventBus())
    now = 1_000_000.0

    def inst(name: str, state: str, age: float, confirmed: bool) -> Instance:
        i = Instance(name, "/x", "v", "v", f"x.{name}", "agent", state=state, staged_at=now - age, confirmed=confirmed)
        core.instances[i.id] = i
        return i

    staged = inst("staged", "TASK_STAGING", 61, confirmed=True)
    unconfirmed = inst("unconfirmed", "TASK_STAGING", 11, confirmed=False)
    inst("young", "TASK_STARTING", 50, confirmed=True)
    inst("running", "TASK_RUNNING", 600, confirmed=True)
    core.check_overdue(now)
    assert core.launch_overdue == 2 and staged.kill_requested and unconfirmed.kill_requested
    core.check_overdue(now + 5)  # the kills are not confirmed yet: still counted
    assert core.launch_overdue == 2
    core.instances.pop(staged.id)  # TASK_KILLED
    core.check_overdue(now + 10)
    api = Api(flags, core, "h:1", lambda: None)
    gauges = api.metrics()["gauges"]
    assert gauges["marathon.instances.launch-overdue.gauge"] == {"value": 1}
    # Not (yet) ElectedAsLeaderAndReady: ElectionService has registered no leadership gauge.
    assert "marathon.leadership.duration.gauge.seconds" not in gauges
