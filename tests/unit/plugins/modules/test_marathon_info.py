"""marathon_info: main() against a canned Marathon answering with the documented payloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.modules import marathon_info
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import run_module
from ansible_collections.orchestrator.platform.tests.unit.plugins.marathon_canned import (
    FakeMarathon,
    example,
    fake_marathons,
    served_app,
)

ALL_APPS = "/v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.tasks&embed=apps.lastTaskFailure"
ONE_APP = "/v2/apps/web?embed=app.counts&embed=app.deployments&embed=app.tasks&embed=app.lastTaskFailure"
HEALTH = {"protocol": "HTTP", "path": "/"}


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMarathon]]:
    with fake_marathons() as make:
        yield make


def test_everything_read_and_summarised(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]) -> None:
    tasks = example("app_tasks.json")["tasks"]
    web = served_app({"id": "/web", "cmd": "x", "instances": 1, "healthChecks": [HEALTH]}, tasksHealthy=1, tasks=tasks)
    srv = fake(
        {
            ("GET", "/v2/leader"): (200, {}, {"leader": "localhost:8080"}),
            ("GET", "/v2/info"): (200, {}, example("info.json")),
            ("GET", ALL_APPS): (200, {}, {"apps": [web, *example("app_list.json")["apps"]]}),
            ("GET", "/v2/deployments"): (200, {}, example("deployments.json")),
            ("GET", "/v2/queue"): (200, {}, {"queue": []}),
        }
    )
    failed, result = run_module(marathon_info.main, {"urls": [srv.base]}, capsys)
    assert not failed, result
    assert result["changed"] is False and result["api_calls"] == 5
    assert result["leader"] == "localhost:8080"
    info = result["info"]
    assert info["framework_id"] == "96d7da70-b731-4cfb-96a7-0ee877af615d-0000"
    assert info["zk"] == "zk://localhost:2181/marathon" and info["version"] == "1.5.0-SNAPSHOT"
    first, listed = result["apps"]
    assert first["healthy"] is True and first["tasks"][0]["host"] == "srv7.hw.ca1.mesosphere.com"
    # app_list.json: 3 instances, none running, a deployment: not healthy.
    assert listed["healthy"] is False and listed["deployments"] == ["9538079c-3898-4e32-aa31-799bf9097f74"]
    assert result["deployments"][0]["id"] == "97c136bf-5a28-4821-9d94-480d9fbb01c8"
    assert [r["method"] for r in srv.requests] == ["GET"] * 5


def test_one_app_and_no_leader(fake: Callable[..., FakeMarathon], capsys: pytest.CaptureFixture[str]) -> None:
    srv = fake(
        {
            ("GET", "/v2/leader"): (404, {}, {"message": "There is no leader"}),
            ("GET", ONE_APP): (404, {}, {"message": "App '/web' does not exist"}),
        }
    )
    args = {"urls": [srv.base], "app_id": "/web", "gather": ["leader", "apps"]}
    failed, result = run_module(marathon_info.main, args, capsys)
    assert not failed, result
    assert result["leader"] is None and result["app"] is None and result["apps"] == []
    failed, result = run_module(marathon_info.main, {**args, "app_id": "web"}, capsys)
    assert failed and "must be absolute" in result["msg"]
