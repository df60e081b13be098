"""marathon_app: main() against a canned Marathon on 127.0.0.1 answering with documented payloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.plugins.modules import marathon_app
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import imported_after, run_module
from ansible_collections.orchestrator.platform.tests.unit.plugins.marathon_canned import (
    INVALID,
    LOCKED,
    FakeMarathon,
    example,
    fake_marathons,
    served_app,
)

WEB = {"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 2}
APP = "/v2/apps/web"
PUT = "/v2/apps/web?partialUpdate=false"
RESULT = example("deployments_result.json")
DEP = RESULT["deploymentId"]


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMarathon]]:
    with fake_marathons() as make:
        yield make


def run(capsys: pytest.CaptureFixture[str], srv: FakeMarathon, **args: object) -> tuple[bool, dict]:
    full = {"urls": [srv.base], "retries": 0, "poll_interval": 0.01, **args}
    return run_module(marathon_app.main, full, capsys)


def test_unchanged_app_is_exactly_one_get(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({("GET", APP): (200, {}, {"app": served_app(WEB, tasksRunning=2)})})
    failed, result = run(capsys, srv, app=WEB)
    assert not failed, result
    assert result["changed"] is False and result["differences"] == []
    assert result["api_calls"] == 1 and [r["method"] for r in srv.requests] == ["GET"]
    assert result["deployment_id"] is None and result["app"]["tasksRunning"] == 2


def test_create_then_wait_until_the_deployment_is_gone(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    created = {**RESULT}
    srv = fake(
        {
            ("GET", APP): [(404, {}, {"message": "App '/web' does not exist"}), (200, {}, {"app": served_app(WEB)})],
            ("PUT", PUT): (201, {"Marathon-Deployment-Id": DEP}, created),
            ("GET", "/v2/deployments"): [(200, {}, [{**example("deployments.json")[0], "id": DEP}]), (200, {}, [])],
        }
    )
    failed, result = run(capsys, srv, app=WEB)
    assert not failed, result
    assert result["changed"] is True and result["deployment_id"] == DEP and result["differences"] == ["/"]
    assert [(r["method"], r["path"]) for r in srv.requests] == [
        ("GET", APP),
        ("PUT", PUT),
        ("GET", "/v2/deployments"),
        ("GET", "/v2/deployments"),
        ("GET", APP),
    ]
    assert json.loads(srv.requests[1]["body"]) == WEB
    assert "force" not in srv.requests[1]["path"]
    assert result["api_calls"] == 5 and result["waited"] is not None


def test_check_mode_sends_no_write_and_diff_shows_the_change(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({("GET", APP): (200, {}, {"app": served_app(WEB)})})
    failed, result = run(capsys, srv, app={**WEB, "instances": 3}, _ansible_check_mode=True, _ansible_diff=True)
    assert not failed, result
    assert result["changed"] is True and result["differences"] == ["/instances"]
    assert srv.writes() == [] and result["api_calls"] == 1
    assert result["diff"]["before"]["instances"] == 2 and result["diff"]["after"]["instances"] == 3
    assert "tasksRunning" not in result["diff"]["before"] and "version" not in result["diff"]["before"]


def test_scale_only_with_instances_option_merges(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("PUT", "/v2/apps/web?partialUpdate=true"): (200, {"Marathon-Deployment-Id": DEP}, RESULT),
        }
    )
    failed, result = run(capsys, srv, app_id="/web", instances=5, wait=False)
    assert not failed, result
    assert json.loads(srv.writes()[0]["body"]) == {"instances": 5}
    assert result["deployment_id"] == DEP and result["waited"] is None
    # The same number again: nothing sent.
    srv.requests.clear()
    srv.routes[("GET", APP)] = (200, {}, {"app": served_app({**WEB, "instances": 5})})
    failed, result = run(capsys, srv, app_id="/web", instances=5)
    assert not failed and result["changed"] is False and srv.writes() == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"app": {**WEB, "instance": 3}}, "/instance: unknown field 'instance'"),
        ({"app": {**WEB, "instances": -1}}, "/instances: -1 is less than 0"),
        ({"app": {**WEB, "id": "web"}}, "/id: 'web' must be absolute"),
        (
            {"app": WEB, "upgrade_strategy": {"minimum_health_capacity": 1.5}},
            "minimum_health_capacity: 1.5 is outside [0, 1]",
        ),
        ({"app": WEB, "app_id": "/other"}, "app_id '/other' and the definition's id '/web' differ"),
        ({"app_id": "/web", "instances": -2}, "/instances: -2 is less than 0"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str], args: dict, words: str
) -> None:
    srv = fake()
    failed, result = run(capsys, srv, **args)
    assert failed and words in result["msg"], result
    assert srv.requests == [] and result["api_calls"] == 0


def test_upgrade_strategy_option_is_applied(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("PUT", PUT): (200, {"Marathon-Deployment-Id": DEP}, RESULT),
        }
    )
    strategy = {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0}
    failed, result = run(capsys, srv, app=WEB, upgrade_strategy=strategy, wait=False)
    assert not failed, result
    assert result["differences"] == ["/upgradeStrategy/minimumHealthCapacity", "/upgradeStrategy/maximumOverCapacity"]
    sent = json.loads(srv.writes()[0]["body"])
    assert sent["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}


def test_lock_fails_naming_the_deployment_and_its_step(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("PUT", PUT): (409, {}, LOCKED),
            ("GET", "/v2/deployments"): (200, {}, example("deployments.json")),
        }
    )
    failed, result = run(capsys, srv, app={**WEB, "instances": 3})
    assert failed
    assert (
        "locked by deployment(s) 97c136bf-5a28-4821-9d94-480d9fbb01c8 (step 1/1 (ScaleApplication /foo))"
        in result["msg"]
    )
    assert result["deployments"] == LOCKED["deployments"]
    assert [r["method"] for r in srv.writes()] == ["PUT"] and "force" not in srv.writes()[0]["path"]


def test_lock_waited_for_then_written_once_more(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("PUT", PUT): [(409, {}, LOCKED), (200, {"Marathon-Deployment-Id": DEP}, RESULT)],
            ("GET", "/v2/deployments"): [(200, {}, example("deployments.json")), (200, {}, [])],
        }
    )
    failed, result = run(capsys, srv, app={**WEB, "instances": 3}, lock_timeout=5, wait=False)
    assert not failed, result
    assert [r["method"] for r in srv.writes()] == ["PUT", "PUT"] and result["deployment_id"] == DEP


def test_force_only_when_asked(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("PUT", PUT + "&force=true"): (200, {"Marathon-Deployment-Id": DEP}, RESULT),
        }
    )
    failed, result = run(capsys, srv, app={**WEB, "instances": 3}, force=True, wait=False)
    assert not failed, result
    assert srv.writes()[0]["path"] == PUT + "&force=true"


def test_wait_timeout_names_step_and_counts(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = [{**example("deployments.json")[0], "id": DEP, "affectedApps": ["/web"]}]
    stuck[0]["currentActions"] = [{"action": "RestartApplication", "app": "/web"}]
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB, tasksRunning=1, tasksStaged=1)}),
            ("PUT", PUT): (200, {"Marathon-Deployment-Id": DEP}, RESULT),
            ("GET", "/v2/deployments"): (200, {}, stuck),
        }
    )
    failed, result = run(capsys, srv, app={**WEB, "cmd": "sleep 2000"}, wait_timeout=0.2, poll_interval=0.05)
    assert failed
    assert f"deployment not finished after 0.2s: {DEP} at step 1/1 (RestartApplication /web)" in result["msg"]
    assert "app /web: instances 2, tasksStaged 1, tasksRunning 1" in result["msg"]


def test_422_reported_with_details(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]) -> None:
    srv = fake({("GET", APP): (200, {}, {"app": served_app(WEB)}), ("PUT", PUT): (422, {}, INVALID)})
    failed, result = run(capsys, srv, app={**WEB, "instances": 3})
    assert failed and "/upgradeStrategy/minimumHealthCapacity: is greater than 1" in result["msg"]
    assert result["details"] == INVALID["details"] and result["status"] == 422


def test_absent_deletes_without_force_and_is_idempotent(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("DELETE", "/v2/apps/web?force=false"): (200, {"Marathon-Deployment-Id": DEP}, RESULT),
        }
    )
    failed, result = run(capsys, srv, app_id="/web", state="absent", wait=False)
    assert not failed and result["changed"] is True and result["app"] is None
    srv.routes[("GET", APP)] = (404, {}, {"message": "App '/web' does not exist"})
    srv.requests.clear()
    failed, result = run(capsys, srv, app_id="/web", state="absent")
    assert not failed and result["changed"] is False and result["api_calls"] == 1


def test_restarted_posts_restart(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]) -> None:
    srv = fake(
        {
            ("GET", APP): (200, {}, {"app": served_app(WEB)}),
            ("POST", "/v2/apps/web/restart"): (200, {}, RESULT),
        }
    )
    failed, result = run(capsys, srv, app_id="/web", state="restarted", wait=False)
    assert not failed and result["changed"] is True and result["deployment_id"] == DEP
    failed, result = run(capsys, srv, app_id="/web", state="restarted", _ansible_check_mode=True)
    assert not failed and result["changed"] is True and len(srv.writes()) == 1


def test_app_file_yaml(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("id: /web\ncmd: sleep 1000\ncpus: 0.1\nmem: 32\ninstances: 2\n")
    srv = fake({("GET", APP): (200, {}, {"app": served_app(WEB)})})
    failed, result = run(capsys, srv, app_file=str(path))
    assert not failed and result["changed"] is False, result


def test_missing_app_without_definition_fails(
    fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]
) -> None:
    srv = fake({("GET", APP): (404, {}, {"message": "App '/web' does not exist"})})
    failed, result = run(capsys, srv, app_id="/web", instances=2)
    assert failed and "does not exist; give its definition" in result["msg"] and srv.writes() == []


def test_module_import_stays_light() -> None:
    """Every run imports the module: PyYAML (app_file only) and Ansible's urls (HTTPS only) wait until needed."""
    loaded = imported_after("from ansible_collections.orchestrator.platform.plugins.modules import marathon_app")
    assert "yaml" not in loaded and "ansible.module_utils.urls" not in loaded
