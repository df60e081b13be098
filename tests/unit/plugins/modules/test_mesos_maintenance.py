"""mesos_maintenance: planning (pure) and main() against canned masters on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _mesos as m
from ansible_collections.orchestrator.platform.plugins.modules import mesos_maintenance
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import (
    FakeMesos,
    fake_mesos_servers,
    run_module,
)
from ansible_collections.orchestrator.platform.tests.unit.plugins.module_utils.test_mesos import DOCS_SCHEDULE

M1 = {"hostname": "machine1", "ip": "10.0.0.1"}
M2 = {"hostname": "machine2", "ip": "10.0.0.2"}
M3 = {"hostname": "machine3", "ip": "10.0.0.3"}
M4 = {"hostname": "machine4", "ip": "10.0.0.4"}
SCHED = m.normalize_schedule(DOCS_SCHEDULE)
START = 1443830400000000000
HOUR = 3600 * 10**9


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMesos]]:
    with fake_mesos_servers() as make:
        yield make


def plan(state: str, machines: list[dict], modes: dict | None = None, start=None, duration=None) -> dict:
    return mesos_maintenance.plan(
        state, machines, SCHED, modes or {}, start=start, duration=duration, now=1_000 * 10**9
    )


def paths(p: dict) -> list[str]:
    return [r["path"] for r in p["requests"]]


# ---------------------------------------------------------------------------------------------
# plan(): Mesos's order and idempotence
# ---------------------------------------------------------------------------------------------


def test_plan_scheduled_already_there_posts_nothing() -> None:
    p = plan("scheduled", [M1, M2], {("machine1", "10.0.0.1"): "draining"}, start=START, duration=HOUR)
    assert p["requests"] == []
    assert p["after"][("machine1", "10.0.0.1")] == "draining"


def test_plan_scheduled_new_machine_merges() -> None:
    p = plan("scheduled", [M4], start=START, duration=HOUR)
    assert paths(p) == ["/master/maintenance/schedule"]
    body = p["requests"][0]["body"]
    # Joins the existing window with the same unavailability; machine3's window is untouched.
    assert body["windows"][0]["machine_ids"] == [M1, M2, M4]
    assert body["windows"][1] == DOCS_SCHEDULE["windows"][1]
    assert p["after"] == {("machine4", "10.0.0.4"): "draining"}


def test_plan_down_schedules_first_then_down() -> None:
    p = plan("down", [M4], duration=HOUR)
    assert paths(p) == ["/master/maintenance/schedule", "/master/machine/down"]
    assert p["requests"][1]["body"] == [M4]
    assert p["after"] == {("machine4", "10.0.0.4"): "down"}


def test_plan_down_only_those_not_down() -> None:
    modes = {("machine1", "10.0.0.1"): "down", ("machine2", "10.0.0.2"): "draining"}
    p = plan("down", [M1, M2], modes)
    assert paths(p) == ["/master/machine/down"]
    assert p["requests"][0]["body"] == [M2]
    assert plan("down", [M1], modes)["requests"] == []


def test_plan_up_unschedules_draining_before_bringing_down_ones_up() -> None:
    modes = {("machine1", "10.0.0.1"): "down", ("machine2", "10.0.0.2"): "draining"}
    p = plan("up", [M1, M2, M4], modes)
    assert paths(p) == ["/master/maintenance/schedule", "/master/machine/up"]
    # The posted schedule keeps the down machine (Mesos refuses to drop it), drops machine2.
    posted = p["requests"][0]["body"]
    assert [mid for w in posted["windows"] for mid in w["machine_ids"]] == [M1, M3]
    assert p["requests"][1]["body"] == [M1]
    assert [mid for w in p["schedule"]["windows"] for mid in w["machine_ids"]] == [M3]
    assert set(p["after"].values()) == {"up"}
    # Nothing scheduled, nothing down: nothing to do.
    assert plan("up", [M4])["requests"] == []


def test_plan_absent() -> None:
    p = plan("absent", [M3], {("machine3", "10.0.0.3"): "draining"})
    assert paths(p) == ["/master/maintenance/schedule"]
    assert p["requests"][0]["body"] == {"windows": [DOCS_SCHEDULE["windows"][0]]}
    assert plan("absent", [M4])["requests"] == []
    with pytest.raises(m.MesosError, match="use state=up"):
        plan("absent", [M1], {("machine1", "10.0.0.1"): "down"})


# A schedule posted earlier with other capitals (Mesos keeps it as posted) and the status naming
# machines as their agents announced them (include/mesos/type_utils.hpp: MachineID equality and
# hash lower-case the hostname; docs/maintenance.md: "The hostname is not case-sensitive").
SHOUTED = {
    "windows": [
        {
            "machine_ids": [{"hostname": "Machine1", "ip": "10.0.0.1"}, {"hostname": "MACHINE2", "ip": "10.0.0.2"}],
            "unavailability": DOCS_SCHEDULE["windows"][0]["unavailability"],
        },
        {
            "machine_ids": [{"hostname": "Machine3", "ip": "10.0.0.3"}],
            "unavailability": DOCS_SCHEDULE["windows"][1]["unavailability"],
        },
    ]
}


def test_plan_hostnames_match_in_any_case() -> None:
    sched = m.normalize_schedule(SHOUTED)
    modes = m.machine_modes({"draining_machines": [{"id": {"hostname": "machine1", "ip": "10.0.0.1"}}]})

    def shouted(state: str, machines: list[dict], start: int | None = None, duration: int | None = None) -> dict:
        return mesos_maintenance.plan(state, machines, sched, modes, start=start, duration=duration, now=1_000 * 10**9)

    # Already scheduled as "Machine1" with this window: nothing to post.
    p = shouted("scheduled", [M1], start=START, duration=HOUR)
    assert p["requests"] == [] and p["before"] == {("machine1", "10.0.0.1"): "draining"}
    assert shouted("scheduled", [M1, M2])["requests"] == []
    # A new window moves the machine: it leaves "Machine1"'s place, it is not listed twice
    # (Mesos would refuse: "appears more than once in the schedule").
    p = shouted("scheduled", [M1], start=START, duration=2 * HOUR)
    ids = [mid for w in p["requests"][0]["body"]["windows"] for mid in w["machine_ids"]]
    assert [m.machine_key(mid) for mid in ids].count(("machine1", "10.0.0.1")) == 1
    assert M1 in ids and {"hostname": "MACHINE2", "ip": "10.0.0.2"} in ids
    # Down posts only /machine/down; absent and up find "Machine3" / "Machine1" too.
    assert paths(shouted("down", [M1])) == ["/master/machine/down"]
    p = shouted("absent", [M3])
    assert paths(p) == ["/master/maintenance/schedule"]
    assert [m.machine_key(mid) for w in p["requests"][0]["body"]["windows"] for mid in w["machine_ids"]] == [
        ("machine1", "10.0.0.1"),
        ("machine2", "10.0.0.2"),
    ]
    p = shouted("up", [M1])
    assert paths(p) == ["/master/maintenance/schedule"]
    assert ("machine1", "10.0.0.1") not in {
        m.machine_key(mid) for w in p["requests"][0]["body"]["windows"] for mid in w["machine_ids"]
    }


# ---------------------------------------------------------------------------------------------
# main() against a canned leader
# ---------------------------------------------------------------------------------------------


def leader_with(fake: Callable[..., FakeMesos], schedule: dict, status: dict) -> FakeMesos:
    srv = fake()
    srv.routes.update(
        {
            ("GET", "/master/redirect"): (307, {"Location": f"//127.0.0.1:{srv.port}"}, None),
            ("GET", "/master/maintenance/schedule"): (200, {}, schedule),
            ("GET", "/master/maintenance/status"): (200, {}, status),
            ("POST", "/master/maintenance/schedule"): (200, {}, None),
            ("POST", "/master/machine/down"): (200, {}, None),
            ("POST", "/master/machine/up"): (200, {}, None),
        }
    )
    return srv


def args(srv: FakeMesos, **kw: object) -> dict:
    return {"masters": [srv.hostport], "retries": 0, "timeout": 3, **kw}


def test_check_mode_posts_nothing_and_diffs(fake, capsys) -> None:
    srv = leader_with(fake, DOCS_SCHEDULE, {})
    failed, result = run_module(
        mesos_maintenance.main,
        args(srv, machines=[M4], state="down", start="2015-10-03T00:00:00Z", duration="1h", _ansible_check_mode=True,
             _ansible_diff=True),
        capsys,
    )  # fmt: skip
    assert not failed, result
    assert result["changed"] is True
    assert [r["method"] for r in srv.requests] == ["GET", "GET", "GET"]
    assert [r["path"] for r in result["requests"]] == ["/master/maintenance/schedule", "/master/machine/down"]
    assert result["diff"]["before"]["machines"] == {"machine4/10.0.0.4": "up"}
    assert result["diff"]["after"]["machines"] == {"machine4/10.0.0.4": "down"}
    assert len(result["diff"]["after"]["schedule"][0]["machine_ids"]) == 3
    assert result["machines"] == [{"hostname": "machine4", "ip": "10.0.0.4", "mode_before": "up", "mode": "down"}]


def test_unchanged_posts_nothing(fake, capsys) -> None:
    status = {"draining_machines": [{"id": M1}, {"id": M2}, {"id": M3}]}
    srv = leader_with(fake, DOCS_SCHEDULE, status)
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M1, M3], state="scheduled"), capsys)
    assert not failed and result["changed"] is False and result["requests"] == [], result
    assert all(r["method"] == "GET" for r in srv.requests)
    assert result["leader"] == srv.base


def test_change_posts_merged_schedule(fake, capsys) -> None:
    srv = leader_with(fake, DOCS_SCHEDULE, {})
    failed, result = run_module(
        mesos_maintenance.main, args(srv, machines=[M4], start=str(START), duration="3600000000000"), capsys
    )
    assert not failed and result["changed"] is True, result
    (posted,) = srv.posts("/master/maintenance/schedule")
    assert posted["windows"][0]["machine_ids"] == [M1, M2, M4]
    assert posted["windows"][1] == DOCS_SCHEDULE["windows"][1]
    # The canned leader still answers the old schedule: the module says so.
    assert "differ from what was posted" in json.dumps(result.get("warnings"))


def test_mesos_refusal_fails_with_status_and_message(fake, capsys) -> None:
    srv = leader_with(fake, {}, {})
    text = 'Machine \'{"hostname":"machine4","ip":"10.0.0.4"}\' is not in DRAINING mode and cannot be brought down'
    srv.routes[("POST", "/master/machine/down")] = (400, {}, text.encode())
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M4], state="down"), capsys)
    assert failed
    assert result["status"] == 400 and result["mesos_message"] == text
    assert "Mesos rejected the request (400 Bad Request" in result["msg"] and "cannot be brought down" in result["msg"]


def test_no_leader_fails_clearly(fake, capsys) -> None:
    srv = fake({("GET", "/master/redirect"): (503, {}, b"No leader elected")})
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M1]), capsys)
    assert failed and result["status"] == 503 and "no leading Mesos master found" in result["msg"]


def test_bad_input(fake, capsys) -> None:
    srv = leader_with(fake, {}, {})
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[{"hostname": "a", "ip": "a.b"}]), capsys)
    assert failed and "IPv4" in result["msg"]
    failed, result = run_module(mesos_maintenance.main, {"machines": [M1]}, capsys)
    assert failed and "masters" in result["msg"]
    assert srv.requests == []


def test_password_is_not_logged(fake, capsys) -> None:
    srv = leader_with(fake, DOCS_SCHEDULE, {})
    failed, result = run_module(
        mesos_maintenance.main,
        args(srv, machines=[M1], url_username="ops", url_password="s3cret-value"),
        capsys,
    )
    assert not failed, result
    assert "s3cret-value" not in json.dumps(result)


def test_schedule_read_back_in_other_capitals_is_unchanged(fake, capsys) -> None:
    # The master returns the schedule as posted ("Machine1") and names machines in the status as
    # first known ("MACHINE1", as the agent announced it); the task asks for "machine1".
    status = {
        "draining_machines": [{"id": {"hostname": "MACHINE1", "ip": "10.0.0.1"}}, {"id": M2}],
        "down_machines": [{"hostname": "machine3", "ip": "10.0.0.3"}],
    }
    srv = leader_with(fake, SHOUTED, status)
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M1, M2], state="scheduled"), capsys)
    assert not failed and result["changed"] is False and result["requests"] == [], result
    modes = [(r["hostname"], r["mode"]) for r in result["machines"]]
    assert modes == [("machine1", "draining"), ("machine2", "draining")]
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M3], state="down"), capsys)
    assert not failed and result["changed"] is False, result
    assert all(r["method"] == "GET" for r in srv.requests)
    # Down for machine1: only /machine/down (the schedule already holds it as "Machine1").
    failed, result = run_module(mesos_maintenance.main, args(srv, machines=[M1], state="down"), capsys)
    assert not failed and [r["path"] for r in result["requests"]] == ["/master/machine/down"], result
    assert srv.posts("/master/machine/down") == [[M1]] and srv.posts("/master/maintenance/schedule") == []
