"""_marathon: the app definition checks, the comparison with Marathon's app, the client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _marathon as mt
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import unused_port
from ansible_collections.orchestrator.platform.tests.unit.plugins.marathon_canned import (
    INVALID,
    LOCKED,
    FakeMarathon,
    example,
    fake_marathons,
    served_app,
)

WEB = {"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 2}


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMarathon]]:
    with fake_marathons() as make:
        yield make


def params(**kw: object) -> dict:
    p = {k: v.get("default") for k, v in mt.marathon_argument_spec().items()}
    p.update(urls=["127.0.0.1:1"], timeout=3.0, retries=0, retry_delay=0.0)
    p.update(kw)
    return p


def client(bases: list[str], **kw: object) -> mt.MarathonClient:
    return mt.MarathonClient(params(**kw), bases, sleep=lambda _s: None)


# ---------------------------------------------------------------------------------------------
# The definition is checked before anything is sent
# ---------------------------------------------------------------------------------------------


def test_documented_examples_pass_the_checks() -> None:
    # examples/app.json has both cmd and args (which Marathon refuses); without args it passes.
    app = {k: v for k, v in example("app.json").items() if k != "args"}
    assert mt.validate_app(app) == []
    for app in example("apps_create.json"):
        assert mt.validate_app(app) == []


def test_typo_is_refused_naming_the_field() -> None:
    errors = mt.validate_app({**WEB, "instance": 3})
    assert len(errors) == 1
    assert errors[0].startswith("/instance: unknown field 'instance'")
    assert "did you mean instances?" in errors[0]


def test_nested_unknown_field_named_with_its_path() -> None:
    app = {**WEB, "healthChecks": [{"protocol": "HTTP", "paht": "/"}]}
    [error] = mt.validate_app(app)
    assert error.startswith("/healthChecks/0/paht: unknown field")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"instances": -1}, "/instances: -1 is less than 0"),
        ({"instances": "3"}, "/instances: expected an integer, got str '3' (a templated number"),
        ({"instances": True}, "/instances: expected an integer"),
        ({"id": "web"}, "/id: 'web' must be absolute (start with /)"),
        ({"id": "/Web"}, "/id: '/Web' does not match"),
        ({"upgradeStrategy": {"minimumHealthCapacity": 1.5}}, "/upgradeStrategy/minimumHealthCapacity: 1.5 is greater"),
        ({"upgradeStrategy": {"maximumOverCapacity": -0.1}}, "/upgradeStrategy/maximumOverCapacity: -0.1 is less"),
        ({"args": ["sleep", "1"]}, "/: give only one of cmd, args, not both"),
        ({"constraints": [["hostname", "UNIQ"]]}, "/constraints/0/1: 'UNIQ' is not one of UNIQUE"),
        ({"env": {"A": 1}}, "/env/A: 1 is not a string or an object"),
        ({"unreachableStrategy": "off"}, "/unreachableStrategy: 'off' is not 'disabled' or an object"),
    ],
)
def test_bad_values_are_refused(change: dict, words: str) -> None:
    errors = mt.validate_app({**WEB, **change})
    assert any(words in e for e in errors), errors


def test_fields_newer_than_the_schema_come_from_the_raml() -> None:
    assert mt.validate_app({**WEB, "tty": True, "role": "prod", "resourceLimits": {"cpus": 2}}) == []
    assert mt.validate_app({**WEB, "role": ""}) == ["/role: '' is shorter than 1"]


def test_strategy_option_range() -> None:
    assert mt.validate_strategy({"minimum_health_capacity": 0, "maximum_over_capacity": 1}) == []
    assert mt.validate_strategy({"minimum_health_capacity": 1.01, "maximum_over_capacity": None}) == [
        "upgrade_strategy.minimum_health_capacity: 1.01 is outside [0, 1]"
    ]


# ---------------------------------------------------------------------------------------------
# Comparison with GET /v2/apps/{id}
# ---------------------------------------------------------------------------------------------


def test_server_fields_and_defaults_are_not_changes() -> None:
    have = served_app(WEB, tasksRunning=1, deployments=[{"id": "x"}], version="2026-01-01T00:00:00.000Z")
    assert mt.app_differences(WEB, have, replace=True) == []
    # The documented list answer (app_list.json) against the definition it came from.
    listed = example("app_list.json")["apps"][0]
    wanted = {
        k: listed[k] for k in ("id", "cmd", "env", "instances", "cpus", "mem", "constraints", "uris", "upgradeStrategy")
    }
    wanted["ports"] = [0, 0]  # assigned 10013 and 10015
    assert mt.app_differences(wanted, listed, replace=True) == []


def test_user_giving_a_default_explicitly_matches_an_omitted_field() -> None:
    have = served_app(WEB)
    del have["killSelection"]
    assert mt.app_differences({**WEB, "killSelection": "YOUNGEST_FIRST", "disk": 0}, have, replace=True) == []


def test_service_port_zero_matches_the_assigned_one() -> None:
    want = {**WEB, "portDefinitions": [{"port": 0, "name": "http"}]}
    have = served_app(want)
    assert have["portDefinitions"][0]["port"] == 10000
    assert mt.app_differences(want, have, replace=True) == []
    fixed = {**WEB, "portDefinitions": [{"port": 10005, "name": "http"}]}
    assert mt.app_differences(fixed, have, replace=True) == ["/portDefinitions/0/port"]
    # Docker port mappings: servicePort 0 vs assigned, hostPort 0 stays 0.
    mapping = {"containerPort": 80, "hostPort": 0, "servicePort": 0, "protocol": "tcp"}
    container = {"type": "DOCKER", "docker": {"image": "nginx"}, "portMappings": [mapping]}
    served = {**container, "portMappings": [{**mapping, "servicePort": 10019, "labels": {}}], "volumes": []}
    served["docker"] = {"image": "nginx", "forcePullImage": False, "privileged": False, "parameters": []}
    assert mt.app_differences({**WEB, "container": container}, served_app({**WEB, "container": served}), True) == []


def test_real_changes_are_found_with_their_paths() -> None:
    have = served_app({**WEB, "healthChecks": [{"protocol": "HTTP", "path": "/"}], "labels": {"a": "1"}})
    want = {**WEB, "instances": 3, "healthChecks": [{"protocol": "HTTP", "path": "/health"}], "labels": {"a": "1"}}
    assert mt.app_differences(want, have, replace=True) == ["/instances", "/healthChecks/0/path"]
    # A label added behind the module's back is a difference (labels are the user's map).
    have["labels"]["b"] = "2"
    assert "/labels/b" in mt.app_differences(want, have, replace=True)
    # A health check value set before and now left out goes back to its default.
    have = served_app({**WEB, "healthChecks": [{"protocol": "HTTP", "path": "/", "intervalSeconds": 10}]})
    assert mt.app_differences({**WEB, "healthChecks": [{"protocol": "HTTP", "path": "/"}]}, have, True) == [
        "/healthChecks/0/intervalSeconds"
    ]


def test_fields_left_out_count_only_when_replacing() -> None:
    have = served_app({**WEB, "constraints": [["hostname", "UNIQUE"]], "user": "nobody"})
    assert mt.app_differences(WEB, have, replace=True) == ["/user", "/constraints"]
    assert mt.app_differences(WEB, have, replace=False) == []


def test_types_are_compared_strictly_but_numbers_by_value() -> None:
    have = served_app({**WEB, "requirePorts": False})
    assert mt.app_differences({**WEB, "cpus": 0.1, "mem": 32.0}, have, replace=True) == []
    assert mt.app_differences({**WEB, "requirePorts": 0}, have, replace=True) == ["/requirePorts"]


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


def test_urls_tried_in_order_and_unreachable_ones_listed(fake: Callable[..., FakeMarathon]) -> None:
    dead = f"http://127.0.0.1:{unused_port()}"
    no_leader = fake({("GET", "/v2/info"): (502, {}, b"")})
    good = fake({("GET", "/v2/info"): (200, {}, example("info.json"))})
    c = client([dead, no_leader.base, good.base])
    assert c.get_json("/v2/info")["frameworkId"] == "96d7da70-b731-4cfb-96a7-0ee877af615d-0000"
    assert c.answered == good.base and c.calls == 3
    with pytest.raises(mt.MarathonError) as info:
        client([dead, no_leader.base]).get_json("/v2/info")
    assert f"{dead}: cannot reach" in info.value.msg and f"{no_leader.base}: 502" in info.value.msg


def test_redirect_followed_with_the_method(fake: Callable[..., FakeMarathon]) -> None:
    target = fake({("PUT", "/v2/apps/web?partialUpdate=false"): (200, {}, example("deployments_result.json"))})
    front = fake(
        {
            ("PUT", "/v2/apps/web?partialUpdate=false"): (
                307,
                {"Location": f"{target.base}/v2/apps/web?partialUpdate=false"},
                None,
            )
        }
    )
    result = client([front.base]).put_app("/web", WEB, partial=False, force=False)
    assert result == {
        "deploymentId": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43",
        "version": "2015-09-29T15:59:51.164Z",
        "created": False,
    }
    assert target.requests[0]["method"] == "PUT" and target.requests[0]["body"]


def test_422_reports_marathons_detail_paths(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("PUT", "/v2/apps/web?partialUpdate=false"): (422, {}, INVALID)})
    with pytest.raises(mt.MarathonError) as info:
        client([srv.base]).put_app("/web", WEB, partial=False, force=False)
    exc = info.value
    assert exc.status == 422 and "/upgradeStrategy/minimumHealthCapacity: is greater than 1" in exc.msg
    assert exc.result()["details"] == INVALID["details"]


def test_409_carries_the_locking_deployments(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("DELETE", "/v2/apps/web?force=false"): (409, {}, LOCKED)})
    with pytest.raises(mt.MarathonError) as info:
        client([srv.base], retries=3).delete_app("/web", force=False)
    assert info.value.deployments == LOCKED["deployments"] and len(srv.requests) == 1


def test_wait_times_out_with_step_and_task_counts(fake: Callable[..., FakeMarathon]) -> None:
    deployments = example("deployments.json")
    srv = fake(
        {
            ("GET", "/v2/deployments"): (200, {}, deployments),
            ("GET", "/v2/apps/foo"): (
                200,
                {},
                {"app": served_app({"id": "/foo", "cmd": "x", "instances": 2}, tasksRunning=1, tasksStaged=1)},
            ),
        }
    )
    ticks = iter([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    c = mt.MarathonClient(params(), [srv.base], sleep=lambda _s: None, clock=lambda: next(ticks))
    with pytest.raises(mt.MarathonError) as info:
        mt.wait_for_deployments(c, ["97c136bf-5a28-4821-9d94-480d9fbb01c8"], 1.0, 0.5, "/foo")
    msg = info.value.msg
    assert (
        "deployment not finished after 1s: 97c136bf-5a28-4821-9d94-480d9fbb01c8 at step 1/1 (ScaleApplication /foo)"
        in msg
    )
    assert "app /foo: instances 2, tasksStaged 1, tasksRunning 1, tasksHealthy 0, tasksUnhealthy 0" in msg


def test_wait_returns_when_the_deployment_is_gone(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("GET", "/v2/deployments"): [(200, {}, example("deployments.json")), (200, {}, [])]})
    c = client([srv.base])
    assert "waited" in mt.wait_for_deployments(c, ["97c136bf-5a28-4821-9d94-480d9fbb01c8"], 10, 0.01)
    assert c.calls == 2


def test_check_params_normalises_urls() -> None:
    assert mt.check_params(params(urls=["m1", "https://m2:8443/", "m1:8080"])) == ["http://m1:8080", "https://m2:8443"]
    with pytest.raises(mt.MarathonError, match="zk://"):
        mt.check_params(params(urls=["zk://zk1:2181/marathon"]))


def test_expected_app_keeps_marathons_defaults_out_of_the_diff() -> None:
    want = {
        **WEB,
        "instances": 3,
        "healthChecks": [{"protocol": "HTTP", "path": "/"}],
        "portDefinitions": [{"port": 0}],
    }
    have = served_app({**WEB, "healthChecks": [{"protocol": "HTTP", "path": "/"}], "user": "nobody"})
    after = mt.expected_app(want, have, replace=True)
    before = mt.comparable(have)
    assert before is not None
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    # instances as asked, user back to Marathon's default (replace); health check defaults and the
    # assigned port kept as Marathon holds them.
    assert changed == ["instances", "user"]
    assert after["user"] is None and after["portDefinitions"][0]["port"] == 10000
    assert mt.expected_app(want, have, replace=False)["user"] == "nobody"
