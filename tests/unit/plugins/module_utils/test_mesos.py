"""Unit tests of module_utils/_mesos.py on canned answers taken from upstream Mesos.

Canned data comes from apache/mesos: ``docs/maintenance.md`` (the schedule example),
``docs/operator-http-api.md`` (GET_MASTER, GET_MAINTENANCE_SCHEDULE/STATUS examples, also in
/work/shared/reference/mesos/api), ``docs/endpoints/master/state.md`` and
``src/master/http.cpp`` (redirect Locations, status and error texts, ClusterStatus JSON). The
HTTP tests run the real client (ansible.module_utils.urls) against a canned server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _mesos as m
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import (
    FakeMesos,
    fake_mesos_servers,
    unused_port,
)

REFERENCE = Path("/work/shared/reference/mesos/api")

# docs/maintenance.md: "in a cluster of three machines, the operator can schedule two machines
# for one hour of maintenance, followed by another hour for the last machine".
DOCS_SCHEDULE = {
    "windows": [
        {
            "machine_ids": [{"hostname": "machine1", "ip": "10.0.0.1"}, {"hostname": "machine2", "ip": "10.0.0.2"}],
            "unavailability": {
                "start": {"nanoseconds": 1443830400000000000},
                "duration": {"nanoseconds": 3600000000000},
            },
        },
        {
            "machine_ids": [{"hostname": "machine3", "ip": "10.0.0.3"}],
            "unavailability": {
                "start": {"nanoseconds": 1443834000000000000},
                "duration": {"nanoseconds": 3600000000000},
            },
        },
    ]
}

# docs/operator-http-api.md GET_MASTER example: master_info, serialized as the masters write it
# into their json.info_* znodes (stout's compact JSON, keys sorted).
MASTER_INFO = {
    "address": {"hostname": "myhost", "ip": "127.0.1.1", "port": 34626},
    "hostname": "myhost",
    "id": "310ffdac-0b73-408d-acf0-2adcd21cb4b7",
    "ip": 16842879,
    "pid": "master@127.0.1.1:34626",
    "port": 34626,
    "version": "1.1.0",
}
ZNODE_DATA = json.dumps(MASTER_INFO, sort_keys=True, separators=(",", ":")).encode()


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMesos]]:
    with fake_mesos_servers() as make:
        yield make


def params(**kw: object) -> dict:
    p = {k: v.get("default") for k, v in m.mesos_argument_spec().items()}
    p.update(timeout=3.0, retries=0, retry_delay=0.0)
    p.update(kw)
    return p


def client(**kw: object) -> m.MesosClient:
    return m.MesosClient(params(**kw), sleep=lambda _s: None)


# ---------------------------------------------------------------------------------------------
# Addresses and redirects
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "scheme", "expected"),
    [
        ("m1", "http", "http://m1:5050"),
        ("m1:5051", "https", "https://m1:5051"),
        ("http://m1:5050/", "https", "http://m1:5050"),
        ("https://m1", "http", "https://m1:5050"),
        ("[::1]:5050", "http", "http://[::1]:5050"),
    ],
)
def test_master_base_url(entry: str, scheme: str, expected: str) -> None:
    assert m.master_base_url(entry, scheme) == expected


@pytest.mark.parametrize("entry", ["", "zk://zk1:2181/mesos", "http://m1:5050/master/state", "m1:notaport"])
def test_master_base_url_rejects(entry: str) -> None:
    with pytest.raises(m.MesosError):
        m.master_base_url(entry)


@pytest.mark.parametrize(
    ("location", "current", "expected"),
    [
        # /master/redirect (src/master/http.cpp): "//" + hostname + ":" + port, no path.
        ("//myhost:34626", "http://127.0.0.1:5050/master/redirect", "http://myhost:34626"),
        # The scheme of the redirected request is kept (protocol-relative URL).
        ("//myhost:34626", "https://m1:5050/master/redirect", "https://myhost:34626"),
        # Other endpoints on a non-leader: basePath + request.url.path.
        ("//10.0.0.2:5050/master/maintenance/schedule", "http://m1:5050/master/maintenance/schedule",
         "http://10.0.0.2:5050"),
        # Mesos before 1.0: "http://" + hostname + ":" + port.
        ("http://myhost:5050", "https://m1:5050/master/redirect", "http://myhost:5050"),
        ("//[::1]:5050", "http://m1:5050/master/redirect", "http://[::1]:5050"),
    ],
)  # fmt: skip
def test_resolve_location(location: str, current: str, expected: str) -> None:
    assert m.resolve_location(location, current) == expected


@pytest.mark.parametrize("location", ["", "/master/state", "//:5050"])
def test_resolve_location_rejects(location: str) -> None:
    with pytest.raises(m.MesosError):
        m.resolve_location(location, "http://m1:5050/master/redirect")


def test_parse_zk_url() -> None:
    assert m.parse_zk_url("zk://zk1:2181,zk2:2181,zk3:2181/mesos") == {
        "hosts": "zk1:2181,zk2:2181,zk3:2181",
        "path": "/mesos",
        "username": None,
        "password": None,
    }
    got = m.parse_zk_url("zk://mesos:s%40cret@zk1:2181/a/mesos")
    assert (got["hosts"], got["path"], got["username"], got["password"]) == ("zk1:2181", "/a/mesos", "mesos", "s@cret")
    for bad in ("zk1:2181/mesos", "zk://zk1:2181", "zk://zk1:2181/", "file:///etc/mesos/zk", "zk://user@zk1/mesos"):
        with pytest.raises(m.MesosError):
            m.parse_zk_url(bad)


# ---------------------------------------------------------------------------------------------
# Leader from ZooKeeper znodes
# ---------------------------------------------------------------------------------------------


def test_contenders_lowest_sequence_first_ignoring_other_children() -> None:
    children = [
        "json.info_0000000012",
        "log_replicas",
        "json.info_0000000003",
        "__write_test_abc",
        "info_0000000001",  # the pre-JSON (protobuf) label: not read
        "json.info_0000000007",
    ]
    assert m.contenders(children) == [
        (3, "json.info_0000000003"),
        (7, "json.info_0000000007"),
        (12, "json.info_0000000012"),
    ]
    assert m.contenders(["log_replicas"]) == []


def test_describe_master_info_from_docs_example() -> None:
    got = m.describe_master_info(ZNODE_DATA, 3, "/mesos/json.info_0000000003")
    assert got == {
        "hostname": "myhost",
        "ip": "127.0.1.1",
        "port": 34626,
        "hostport": "myhost:34626",
        "id": "310ffdac-0b73-408d-acf0-2adcd21cb4b7",
        "pid": "master@127.0.1.1:34626",
        "version": "1.1.0",
        "sequence": 3,
        "znode": "/mesos/json.info_0000000003",
    }
    # MasterInfo.ip is the address in network order read as a little-endian uint32 (MESOS-1201).
    assert m.packed_ip(16842879) == "127.0.1.1"
    # Without hostname and address, /master/redirect names the master by its IP.
    bare = {"id": "x", "ip": 16842879, "port": 5050, "pid": "master@127.0.1.1:5050"}
    assert m.describe_master_info(json.dumps(bare))["hostport"] == "127.0.1.1:5050"


@pytest.mark.skipif(not (REFERENCE / "GET_MASTER.json").exists(), reason="upstream reference data not on this machine")
def test_describe_master_info_matches_reference_file() -> None:
    ref = json.loads((REFERENCE / "GET_MASTER.json").read_text())["response"]["body"]["get_master"]["master_info"]
    assert ref == MASTER_INFO
    assert m.describe_master_info(json.dumps(ref))["hostport"] == "myhost:34626"


def test_describe_master_info_rejects_garbage() -> None:
    with pytest.raises(m.MesosError):
        m.describe_master_info(b"\x08\x01", 1, "/mesos/json.info_0000000001")
    with pytest.raises(m.MesosError):
        m.describe_master_info(b'{"id": "x"}', 1, "/mesos/json.info_0000000001")


def test_zk_masters_reads_lowest_znode(monkeypatch: pytest.MonkeyPatch) -> None:
    other = dict(
        MASTER_INFO, hostname="other", port=5051, address={"hostname": "other", "ip": "10.0.0.2", "port": 5051}
    )
    data = {
        "/mesos/json.info_0000000004": json.dumps(other).encode(),
        "/mesos/json.info_0000000002": ZNODE_DATA,
        "/mesos/log_replicas": b"",
    }

    class FakeZk:
        closed = False

        def get_children(self, path: str) -> list[str]:
            assert path == "/mesos"
            return [k.rsplit("/", 1)[1] for k in data]

        def get(self, path: str) -> tuple[bytes, object]:
            assert "log_replicas" not in path
            return data[path], None

    fake_zk = FakeZk()
    seen: dict = {}

    def connect(p: dict) -> FakeZk:
        seen.update(p)
        return fake_zk

    monkeypatch.setattr(m._zk, "HAS_KAZOO", True)
    monkeypatch.setattr(m._zk, "connect", connect)
    monkeypatch.setattr(m._zk, "close", lambda c: setattr(c, "closed", True))
    zk = m.parse_zk_url("zk://u:p@zk1:2181,zk2:2181/mesos")
    masters = m.zk_masters(zk, 2.0)
    assert [x["hostport"] for x in masters] == ["myhost:34626", "other:5051"]
    assert masters[0]["sequence"] == 2 and masters[0]["znode"] == "/mesos/json.info_0000000002"
    assert (seen["hosts"], seen["auth_username"], seen["auth_password"], seen["timeout"]) == (
        "zk1:2181,zk2:2181",
        "u",
        "p",
        2.0,
    )
    assert fake_zk.closed


# ---------------------------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------------------------


def test_redirect_target_on_leader_and_follower(fake: Callable[..., FakeMesos]) -> None:
    leader = fake()
    leader.routes[("GET", "/master/redirect")] = (307, {"Location": f"//127.0.0.1:{leader.port}"}, None)
    follower = fake({("GET", "/master/redirect"): (307, {"Location": f"//127.0.0.1:{leader.port}"}, None)})
    c = client()
    assert c.redirect_target(leader.base) == (leader.base, None)
    assert c.redirect_target(follower.base) == (leader.base, None)
    assert c.find_leader([follower.base]) == leader.base


def test_no_leader_503(fake: Callable[..., FakeMesos]) -> None:
    # src/master/http.cpp: ServiceUnavailable("No leader elected").
    alone = fake({("GET", "/master/redirect"): (503, {}, b"No leader elected")})
    c = client(retries=2)
    target, error = c.redirect_target(alone.base)
    assert target is None and "503" in error
    with pytest.raises(m.MesosError) as info:
        c.find_leader([alone.base])
    assert info.value.status == 503 and "no leading Mesos master found" in info.value.msg
    # One probe above, then find_leader asked 1 + retries times.
    assert len(alone.requests) == 4


def test_post_follows_307_with_method_and_body(fake: Callable[..., FakeMesos]) -> None:
    leader = fake({("POST", "/master/maintenance/schedule"): (200, {}, None)})
    location = f"//127.0.0.1:{leader.port}/master/maintenance/schedule"
    follower = fake({("POST", "/master/maintenance/schedule"): (307, {"Location": location}, None)})
    c = client()
    c.post_json(follower.base, "/master/maintenance/schedule", DOCS_SCHEDULE)
    assert leader.posts("/master/maintenance/schedule") == [DOCS_SCHEDULE]
    assert leader.requests[0]["headers"]["content-type"] == "application/json"


def test_redirect_loop_is_no_leader(fake: Callable[..., FakeMesos]) -> None:
    a = fake()
    b = fake()
    a.routes[("GET", "/master/state")] = (307, {"Location": f"//127.0.0.1:{b.port}/master/state"}, None)
    b.routes[("GET", "/master/state")] = (307, {"Location": f"//127.0.0.1:{a.port}/master/state"}, None)
    with pytest.raises(m.MesosError) as info:
        client().get_json(a.base, "/master/state")
    assert info.value.status == 503 and "no master is leading" in info.value.msg


def test_retries_503_then_succeeds(fake: Callable[..., FakeMesos]) -> None:
    answers = [(503, {}, b"No leader elected"), (503, {}, b"No leader elected"), (200, {}, b'{"windows": []}')]
    srv = fake({("GET", "/master/maintenance/schedule"): lambda *a: answers.pop(0)})
    slept: list[float] = []
    c = m.MesosClient(params(retries=3, retry_delay=0.5), sleep=slept.append)
    assert c.get_json(srv.base, "/master/maintenance/schedule") == {"windows": []}
    assert slept == [0.5, 0.5]


def test_retries_are_bounded(fake: Callable[..., FakeMesos]) -> None:
    srv = fake({("GET", "/master/maintenance/status"): (503, {}, b"No leader elected")})
    with pytest.raises(m.MesosError) as info:
        client(retries=2).get_json(srv.base, "/master/maintenance/status")
    assert info.value.status == 503 and info.value.body == "No leader elected"
    assert len(srv.requests) == 3


def test_400_is_not_retried_and_carries_mesos_message(fake: Callable[..., FakeMesos]) -> None:
    # The text master/http.cpp gives for /master/machine/down on a machine not DRAINING.
    text = b'Machine \'{"hostname":"myhost","ip":"0.0.0.3"}\' is not in DRAINING mode and cannot be brought down'
    srv = fake({("POST", "/master/machine/down"): (400, {}, text)})
    with pytest.raises(m.MesosError) as info:
        client(retries=3).post_json(srv.base, "/master/machine/down", [{"hostname": "myhost", "ip": "0.0.0.3"}])
    exc = info.value
    assert exc.status == 400 and "cannot be brought down" in exc.msg and exc.body == text.decode()
    assert exc.result() == {"status": 400, "url": f"{srv.base}/master/machine/down", "mesos_message": text.decode()}
    assert len(srv.requests) == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "url_username"), (403, "not authorized"), (404, "no such endpoint"), (503, "no leading master")],
)
def test_status_mapping(status: int, words: str) -> None:
    with pytest.raises(m.MesosError) as info:
        m.check_status(m.Response(status, {}, b"", "http://m1:5050/x"))
    assert words in info.value.msg and info.value.status == status
    assert m.check_status(m.Response(202, {}, b"", "u"), (200, 202)).status == 202


def test_unreachable_master(fake: Callable[..., FakeMesos]) -> None:
    port = unused_port()
    with pytest.raises(m.MesosError) as info:
        client(retries=1).get_json(f"http://127.0.0.1:{port}", "/master/state")
    assert info.value.status is None and "cannot reach" in info.value.msg


def test_not_json(fake: Callable[..., FakeMesos]) -> None:
    srv = fake({("GET", "/master/state"): (200, {}, b"<html>proxy</html>")})
    with pytest.raises(m.MesosError) as info:
        client().get_json(srv.base, "/master/state")
    assert "not JSON" in info.value.msg


def test_basic_auth_sent_with_first_request(fake: Callable[..., FakeMesos]) -> None:
    srv = fake({("GET", "/master/state"): (200, {}, {})})
    client(url_username="ops", url_password="s3cret").get_json(srv.base, "/master/state")
    assert len(srv.requests) == 1
    assert srv.requests[0]["headers"]["authorization"] == "Basic " + base64.b64encode(b"ops:s3cret").decode()


def test_argument_spec_secrets_no_log() -> None:
    spec = m.mesos_argument_spec()
    assert spec["url_password"]["no_log"] is True
    assert {"validate_certs", "ca_path", "client_cert", "client_key", "timeout", "retries"} <= set(spec)


# ---------------------------------------------------------------------------------------------
# /master/state
# ---------------------------------------------------------------------------------------------


def test_summarize_state_docs_example() -> None:
    # docs/endpoints/master/state.md (trimmed): no agents, no frameworks.
    state = {
        "version": "0.28.0",
        "start_time": 1455643643.42422,
        "elected_time": 1455643643.43457,
        "id": "b5eac2c5-609b-4ca1-a352-61941702fc9e",
        "pid": "master@127.0.0.1:5050",
        "hostname": "localhost",
        "activated_slaves": 0,
        "deactivated_slaves": 0,
        "cluster": "test-cluster",
        "leader": "master@127.0.0.1:5050",
        "slaves": [],
        "frameworks": [],
        "completed_frameworks": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }
    got = m.summarize_state(state)
    assert got["elected_time"] == 1455643643.43457 and got["cluster"] == "test-cluster"
    assert got["agents"]["total"] == 0 and got["tasks_running"] == 0
    assert got["agents"]["resources_total"] == {"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}


def test_summarize_state_agents_and_tasks() -> None:
    # Fields as master/http.cpp writes Summary<Slave>/Full<Framework>: resources are
    # {name: scalar or range string}, tasks carry their state.
    slave = {
        "id": "628984d0-4213-4140-bcb0-99d7ef46b1df-S0",
        "pid": "slave(3)@127.0.1.1:34626",
        "hostname": "myhost",
        "active": True,
        "version": "1.1.0",
        "resources": {"cpus": 2.0, "mem": 1024.0, "disk": 1024.0, "gpus": 0.0, "ports": "[31000-32000]"},
        "used_resources": {"cpus": 0.5, "mem": 128.0, "disk": 0.0, "gpus": 0.0},
        "attributes": {"rack": "r1"},
    }
    inactive = dict(slave, id="x-S1", active=False, used_resources={})
    framework = {
        "id": "628984d0-4213-4140-bcb0-99d7ef46b1df-0000",
        "name": "default",
        "active": True,
        "connected": True,
        "role": "*",
        "tasks": [{"state": "TASK_RUNNING"}, {"state": "TASK_STAGING"}, {"state": "TASK_RUNNING"}],
    }
    got = m.summarize_state({"slaves": [slave, inactive], "frameworks": [framework]})
    assert (got["agents"]["total"], got["agents"]["active"], got["agents"]["inactive"]) == (2, 1, 1)
    assert got["agents"]["resources_total"] == {"cpus": 4.0, "gpus": 0.0, "mem": 2048.0, "disk": 2048.0}
    assert got["agents"]["resources_used"]["cpus"] == 0.5
    assert got["frameworks"]["list"][0]["tasks_running"] == 2 and got["tasks_running"] == 2
    assert m.select_metrics({"master/elected": 1.0}, ["master/elected", "master/nope"]) == {
        "master/elected": 1.0,
        "master/nope": None,
    }


# ---------------------------------------------------------------------------------------------
# Maintenance: machines, times, schedule merge
# ---------------------------------------------------------------------------------------------


def test_normalize_machines() -> None:
    assert m.normalize_machines([{"hostname": "a", "ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"hostname": "c"}]) == [
        {"hostname": "a", "ip": "10.0.0.1"},
        {"ip": "10.0.0.2"},
        {"hostname": "c"},
    ]
    for bad in (
        [],
        [{}],
        [{"hostname": "a", "ip": "::1"}],
        [{"ip": "10.0.0.256"}],
        [{"hostname": "A"}, {"hostname": "a"}],
    ):
        with pytest.raises(m.MesosError):
            m.normalize_machines(bad)


def test_machine_key_hostname_case_insensitive() -> None:
    # docs/maintenance.md: "The hostname is not case-sensitive."
    assert m.machine_key({"hostname": "Machine1", "ip": "10.0.0.1"}) == m.machine_key(
        {"hostname": "machine1", "ip": "10.0.0.1"}
    )
    assert m.machine_key({"hostname": "machine1"}) != m.machine_key({"hostname": "machine1", "ip": "10.0.0.1"})


@pytest.mark.parametrize(
    ("value", "nanos"),
    [
        (3600000000000, 3600000000000),
        ("3600000000000", 3600000000000),
        ("1h", 3600 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("2hrs", 7200 * 10**9),
        ("90mins", 5400 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("2d", 172800 * 10**9),
        ("500ms", 5 * 10**8),
        (None, None),
    ],
)
def test_parse_duration(value: object, nanos: int | None) -> None:
    assert m.parse_duration(value) == nanos


@pytest.mark.parametrize("value", ["forever", "1 parsec", "-1", "h1", True])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(m.MesosError):
        m.parse_duration(value)


def test_parse_start() -> None:
    # docs/maintenance.md: 1443830400000000000 is 2015-10-03T00:00:00Z.
    assert m.parse_start("2015-10-03T00:00:00Z") == 1443830400000000000
    assert m.parse_start("2015-10-03 02:00:00+02:00") == 1443830400000000000
    assert m.parse_start("2015-10-03T00:00:00") == 1443830400000000000
    assert m.parse_start("1443830400000000000") == 1443830400000000000
    assert m.parse_start(1443830400000000000) == 1443830400000000000
    assert m.format_nanos(1443830400000000000) == "2015-10-03T00:00:00Z"
    with pytest.raises(m.MesosError):
        m.parse_start("next tuesday")


def test_normalize_schedule_v1_example_and_empty() -> None:
    # GET_MAINTENANCE_SCHEDULE example of docs/operator-http-api.md (no duration).
    v1 = {
        "windows": [
            {
                "machine_ids": [{"hostname": "myhost"}, {"ip": "0.0.0.2"}],
                "unavailability": {"start": {"nanoseconds": 1470849373150643200}},
            }
        ]
    }
    got = m.normalize_schedule(v1)
    assert m.machine_windows(got) == {
        ("myhost", ""): {"start": {"nanoseconds": 1470849373150643200}},
        ("", "0.0.0.2"): {"start": {"nanoseconds": 1470849373150643200}},
    }
    # GET /master/maintenance/schedule without a schedule: JSON::protobuf(Schedule()) == {}.
    assert m.normalize_schedule({}) == {"windows": []}


def test_machine_modes_from_cluster_status() -> None:
    # maintenance::ClusterStatus as master/http.cpp writes it: draining machines wrap the
    # MachineID in "id" (with inverse offer statuses), down machines are bare MachineIDs.
    status = {
        "draining_machines": [{"id": {"hostname": "machine1", "ip": "10.0.0.1"}, "statuses": []}],
        "down_machines": [{"hostname": "machine3", "ip": "10.0.0.3"}],
    }
    assert m.machine_modes(status) == {("machine1", "10.0.0.1"): "draining", ("machine3", "10.0.0.3"): "down"}
    # Empty repeated fields are left out by JSON::protobuf.
    assert m.machine_modes({}) == {}


def test_merge_adds_new_window_and_keeps_others() -> None:
    sched = m.normalize_schedule(DOCS_SCHEDULE)
    new = [{"hostname": "machine4", "ip": "10.0.0.4"}]
    got = m.merge_schedule(sched, new, 1443837600000000000, 1800 * 10**9, now=0)
    assert got["windows"][:2] == DOCS_SCHEDULE["windows"]
    assert got["windows"][2] == {
        "machine_ids": new,
        "unavailability": {"start": {"nanoseconds": 1443837600000000000}, "duration": {"nanoseconds": 1800 * 10**9}},
    }


def test_merge_same_window_is_no_change() -> None:
    sched = m.normalize_schedule(DOCS_SCHEDULE)
    got = m.merge_schedule(sched, [{"hostname": "MACHINE3", "ip": "10.0.0.3"}], 1443834000000000000, 3600 * 10**9, 0)
    assert got is sched
    assert m.schedule_equal(got, sched)
    # Omitted start and duration: a scheduled machine keeps its window.
    assert m.merge_schedule(sched, [{"hostname": "machine1", "ip": "10.0.0.1"}], None, None, 0) is sched


def test_merge_moves_machine_and_joins_matching_window() -> None:
    sched = m.normalize_schedule(DOCS_SCHEDULE)
    # machine1 gets machine3's window: it leaves window 1 (machine2 stays) and joins window 2.
    got = m.merge_schedule(sched, [{"hostname": "machine1", "ip": "10.0.0.1"}], 1443834000000000000, None, 0)
    assert got["windows"][0]["machine_ids"] == [{"hostname": "machine2", "ip": "10.0.0.2"}]
    assert got["windows"][1]["machine_ids"] == [
        {"hostname": "machine3", "ip": "10.0.0.3"},
        {"hostname": "machine1", "ip": "10.0.0.1"},
    ]
    # Only the duration changes: the start is kept.
    got = m.merge_schedule(sched, [{"hostname": "machine3", "ip": "10.0.0.3"}], None, 7200 * 10**9, 0)
    assert got["windows"][1]["unavailability"] == {
        "start": {"nanoseconds": 1443834000000000000},
        "duration": {"nanoseconds": 7200 * 10**9},
    }
    # The source is not modified.
    assert sched == m.normalize_schedule(DOCS_SCHEDULE)


def test_merge_new_machine_without_start_starts_now_open_ended() -> None:
    got = m.merge_schedule({"windows": []}, [{"hostname": "a", "ip": "10.0.0.9"}], None, None, now=42 * 10**9)
    window = {
        "machine_ids": [{"hostname": "a", "ip": "10.0.0.9"}],
        "unavailability": {"start": {"nanoseconds": 42 * 10**9}},
    }
    assert got == {"windows": [window]}


def test_schedule_without_drops_empty_windows() -> None:
    sched = m.normalize_schedule(DOCS_SCHEDULE)
    got = m.schedule_without(sched, {("machine3", "10.0.0.3"), ("machine1", "10.0.0.1")})
    first = DOCS_SCHEDULE["windows"][0]["unavailability"]
    assert got == {"windows": [{"machine_ids": [{"hostname": "machine2", "ip": "10.0.0.2"}], "unavailability": first}]}
    assert m.describe_schedule(got)[0]["start"] == "2015-10-03T00:00:00Z"
    assert m.describe_schedule(got)[0]["duration_seconds"] == 3600.0


def test_bad_tls_files_fail_clearly(tmp_path: Path) -> None:
    c = client(ca_path=str(tmp_path / "missing-ca.pem"))
    with pytest.raises(m.MesosError) as info:
        c.exchange("GET", "https://127.0.0.1:1/health")
    assert "cannot set up TLS" in info.value.msg


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FakeMesos, Path]]:
    """A canned master serving HTTPS with a self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    srv = FakeMesos()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.server.socket = ctx.wrap_socket(srv.server.socket, server_side=True)
    yield srv, cert
    srv.close()


def test_https_verified_with_ca_path_and_redirect_keeps_https(tls_server: tuple[FakeMesos, Path]) -> None:
    srv, cert = tls_server
    base = f"https://127.0.0.1:{srv.port}"
    srv.routes[("GET", "/master/redirect")] = (307, {"Location": f"//127.0.0.1:{srv.port}"}, None)
    srv.routes[("GET", "/master/state")] = (200, {}, {"cluster": "tls"})
    # The system CA store does not know the self-signed certificate.
    with pytest.raises(m.MesosError) as info:
        client().get_json(base, "/master/state")
    assert info.value.status is None and "CERTIFICATE_VERIFY_FAILED" in info.value.msg
    c = client(ca_path=str(cert))
    assert c.find_leader([base]) == base  # scheme-relative Location, scheme kept
    assert c.get_json(base, "/master/state") == {"cluster": "tls"}
    assert client(validate_certs=False).get_json(base, "/master/state") == {"cluster": "tls"}
