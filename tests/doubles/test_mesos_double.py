"""Facts the Mesos protocol double (doubles/mesos/mesos_double.py) must keep.

Each test pins one upstream behaviour (named in the double's comments) so that the double cannot
drift into "whatever the modules expect". Masters elect through the REAL loopback ZooKeeper
ensemble of tests/fixtures (session fixture ``zk_ensemble``); every port is picked free at run
time and every wait polls a condition with a deadline.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support import waiting
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.zk_client import kazoo_client

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "doubles" / "mesos" / "mesos_double"
REFERENCE = Path(os.environ.get("MESOS_REFERENCE_DIR", "/work/shared/reference/mesos/api"))
# The interpreter that runs the double; DOUBLE_PYTHON=/usr/bin/python3 checks it on Debian's
# python3 + python3-kazoo, as the roles install it.
PYTHON = os.environ.get("DOUBLE_PYTHON") or sys.executable


sys.path.insert(0, str(DOUBLE.parent))
from mesos_double import common, flag_table, resources  # noqa: E402
from mesos_double import flags as double_flags  # noqa: E402

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


# A double that does not answer yet (refused, no JSON, a key not there yet) is not ready yet.
wait_for = functools.partial(waiting.wait_for, retry_on=(OSError, ValueError, KeyError))


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def get_json(port: int, path: str) -> Any:
    status, _unused, body = request(port, "GET", path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def v1(port: int, call: dict, content_type: str = "application/json") -> tuple[int, Any]:
    status, _unused, body = request(
        port, "POST", "/api/v1", call, {"Content-Type": content_type, "Accept": "application/json"}
    )
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body.decode()


class Proc:
    """One running personality of the double."""

    def __init__(self, personality: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.personality = personality
        self.port = next(int(a.split("=", 1)[1]) for a in args if a.startswith("--port="))
        self.log = tempfile.NamedTemporaryFile(prefix=f"mesos-{personality}-", suffix=".log", delete=False)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            [PYTHON, str(DOUBLE), personality, *args], stdout=self.log, stderr=self.log, env=full_env
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_http(self, timeout: float = 15) -> Proc:
        def up() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.personality} exited {self.popen.returncode}:\n{self.output()}")
            return request(self.port, "GET", "/health")[0] == 200

        wait_for(up, timeout, f"{self.personality} on port {self.port}")
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=10)

    def wait_exit(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


def run(
    personality: str, args: list[str], env: dict[str, str] | None = None, timeout: float = 15
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
    full_env.update(env or {})
    return subprocess.run(
        [PYTHON, str(DOUBLE), personality, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def master_args(port: int, tmp: Path, *extra: str) -> list[str]:
    return [f"--port={port}", "--ip=127.0.0.1", "--hostname=127.0.0.1", f"--work_dir={tmp}/m{port}", *extra]


def agent_args(
    port: int,
    master: str,
    work_dir: Path,
    *extra: str,
    resources: str = "cpus:2;mem:1024;disk:2048;ports:[31000-32000]",
    attributes: str = "rack:r1;zone:z1",
) -> list[str]:
    return [
        f"--port={port}",
        "--ip=127.0.0.1",
        "--hostname=127.0.0.1",
        f"--master={master}",
        f"--work_dir={work_dir}",
        f"--resources={resources}",
        f"--attributes={attributes}",
        *extra,
    ]


def load_flags(personality: str, argv: list[str], env: dict[str, str] | None = None) -> Any:
    return double_flags.load(f"mesos-{personality}", flag_table.flag_specs(personality), argv, env or {})


def flag_error(personality: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    with pytest.raises(double_flags.FlagError) as info:
        load_flags(personality, argv, env)
    return str(info.value)


# ------------------------------------------------------------------------------------------
# flags: stout semantics
# ------------------------------------------------------------------------------------------


def test_flags_command_line_and_environment() -> None:
    f = load_flags("master", ["--port=5055", "--cluster=lab", "--no-hostname_lookup", "--quorum=2"])
    assert (f["port"], f["cluster"], f["hostname_lookup"], f["quorum"]) == (5055, "lab", False, 2)
    # MESOS_<NAME> and MESOS_<name> both work; the command line wins over the environment.
    f = load_flags("master", ["--port=5055"], {"MESOS_PORT": "6000", "MESOS_cluster": "envc", "MESOS_QUORUM": "3"})
    assert (f["port"], f["cluster"], f["quorum"]) == (5055, "envc", 3)
    # Unknown MESOS_* variables are silently ignored, and MESOS_NO_X does not negate.
    f = load_flags("master", [], {"MESOS_TYPO_FLAG": "1", "MESOS_NO_HOSTNAME_LOOKUP": "1", "OTHER_PORT": "1"})
    assert f["hostname_lookup"] is True and f["port"] == 5050
    # Booleans: --name, --name=false, --no-name; anything else but true/false/1/0 fails.
    assert load_flags("agent", ["--work_dir=/x", "--cgroups_enable_cfs"])["cgroups_enable_cfs"] is True
    assert load_flags("agent", ["--work_dir=/x", "--systemd_enable_support=false"])["systemd_enable_support"] is False
    assert load_flags("agent", ["--work_dir=/x", "--no-strict"])["strict"] is False
    assert "Expecting a boolean" in flag_error("agent", ["--work_dir=/x", "--strict=yes"])
    # '--strict false' is '--strict' (true) plus a skipped word; names are lower-cased; an empty
    # environment value sets a boolean.
    assert load_flags("agent", ["--work_dir=/x", "--strict", "false"])["strict"] is True
    assert load_flags("master", ["--PORT=5060"])["port"] == 5060
    assert load_flags("master", [], {"MESOS_QUIET": ""})["quiet"] is True
    assert load_flags("master", [], {"mesos_port": "6000"})["port"] == 5050  # the prefix is case-sensitive
    # Deprecated names load the new flag (with a warning).
    f = load_flags("master", ["--slave_ping_timeout=5secs"])
    assert str(f["agent_ping_timeout"]) == "5secs" and f.warnings == ["Loaded deprecated flag 'slave_ping_timeout'"]
    # Defaults as upstream stringifies them.
    strings = load_flags("master", []).as_strings()
    assert strings["zk_session_timeout"] == "10secs" and strings["registry_fetch_timeout"] == "1mins"
    assert strings["registry"] == "replicated_log" and strings["port"] == "5050"
    assert load_flags("agent", ["--work_dir=/x"]).as_strings()["isolation"] == "posix/cpu,posix/mem"


def test_flags_errors_are_stouts() -> None:
    assert flag_error("master", ["--no_such_flag=1"]) == "Failed to load unknown flag 'no_such_flag'"
    assert flag_error("master", ["--no-such"]) == "Failed to load unknown flag 'such' via 'no-such'"
    # '--name value' is not a pair: the flag has no value and the word is skipped.
    assert flag_error("master", ["--quorum", "2"]) == "Failed to load non-boolean flag 'quorum': Missing value"
    assert flag_error("master", ["--no-port"]) == "Failed to load non-boolean flag 'port' via 'no-port'"
    assert (
        flag_error("master", ["--no-quiet=true"])
        == "Failed to load boolean flag 'quiet' via 'no-quiet' with value 'true'"
    )
    assert flag_error("master", ["--port=1", "--port=2"]) == "Flag 'port' is already loaded via name 'port'"
    assert (
        flag_error("master", ["--port=abc"])
        == "Failed to load flag 'port': Failed to load value 'abc': Failed to convert 'abc' to number"
    )
    assert "Failed to convert '70000' to number" in flag_error("master", ["--port=70000"])
    assert "Failed to convert '-1' to number" in flag_error("master", ["--quorum=-1"])
    # Durations: '5mins' is one, '5 mins', '5minutes' and '300' are not.
    assert (
        str(
            load_flags("agent", ["--work_dir=/x", "--executor_registration_timeout=5mins"])[
                "executor_registration_timeout"
            ]
        )
        == "5mins"
    )
    assert flag_error("agent", ["--work_dir=/x", "--executor_registration_timeout=5 minutes"]).endswith(
        "Unknown duration unit ' minutes'"
    )
    assert flag_error("agent", ["--work_dir=/x", "--executor_registration_timeout=5minutes"]).endswith(
        "Unknown duration unit 'minutes'"
    )
    assert flag_error("agent", ["--work_dir=/x", "--executor_registration_timeout=300"]).endswith(
        "Invalid duration '300'"
    )
    # Bytes.
    assert str(load_flags("agent", ["--work_dir=/x", "--fetcher_cache_size=4gb"])["fetcher_cache_size"]) == "4GB"
    assert flag_error("agent", ["--work_dir=/x", "--fetcher_cache_size=1.5GB"]).endswith("Fractional bytes '1.5GB'")
    assert flag_error("agent", ["--work_dir=/x", "--fetcher_cache_size=4 GB"]).endswith("Unknown bytes unit ' GB'")
    # Validations of src/master/flags.cpp, and the agent's required --work_dir.
    assert "between 1secs and 15mins" in flag_error("master", ["--agent_ping_timeout=100ms"])
    assert "registry_strict" in flag_error("master", ["--registry_strict"])
    assert flag_error("agent", []) == "Flag 'work_dir' is required, but it was not provided"
    assert "not a valid value for logging_level" in flag_error("master", ["--logging_level=DEBUG"])
    assert flag_error("agent", ["--work_dir=/x", '--domain={"region": "r"}']) == "`domain` must define `fault_domain`"
    # Environment values go through the same parsers.
    assert "Failed to convert 'x' to number" in flag_error("master", [], {"MESOS_PORT": "x"})


def test_flags_file_values(tmp_path: Path) -> None:
    zk = tmp_path / "zk"
    zk.write_text("zk://127.0.0.1:2181/mesos\n")
    assert load_flags("master", [f"--zk=file://{zk}"])["zk"] == "zk://127.0.0.1:2181/mesos"
    assert "Error reading file" in flag_error("master", [f"--zk=file://{tmp_path}/missing"])
    # Path-typed flags keep the path.
    assert load_flags("master", [f"--credentials=file://{zk}"])["credentials"] == f"file://{zk}"


def test_unknown_flag_refuses_to_start_but_unknown_env_is_ignored() -> None:
    res = run("master", ["--registry=in_memory", "--worK_dir=/tmp/x", "--typo=1"])
    assert res.returncode == 1
    assert "Failed to load unknown flag 'typo'" in res.stderr
    assert "See `mesos-master --help` for a list of supported flags." in res.stderr
    res = run("agent", ["--work_dir=/tmp/x", "--master=127.0.0.1:1", "--isolation"])
    assert res.returncode == 1 and "Failed to load non-boolean flag 'isolation': Missing value" in res.stderr
    res = run("master", ["--help"])
    assert res.returncode == 0 and "PROTOCOL DOUBLE" in res.stdout and "Usage: mesos-master [options]" in res.stdout
    assert "--[no-]hostname_lookup" in res.stdout and "--zk=VALUE" in res.stdout
    res = run("agent", ["--version"])  # --version wins over the missing --work_dir, as in main.cpp
    assert res.returncode == 0 and res.stdout.strip() == f"mesos {common.MESOS_VERSION}"


def test_master_startup_validation(tmp_path: Path) -> None:
    wd = f"--work_dir={tmp_path}/w"
    cases = [
        (
            ["--zk=127.0.0.1:2181/mesos", "--quorum=1", wd],
            "Error parsing ZooKeeper URL: Expecting 'zk://' at the beginning of the URL",
        ),
        (
            ["--zk=zk://127.0.0.1:2181/mesos", wd],
            "Need to specify --quorum for replicated log based registry when using ZooKeeper",
        ),
        (["--zk=zk://127.0.0.1:2181/mesos", "--quorum=1"], "--work_dir needed for replicated log based registry"),
        ([], "--work_dir needed for replicated log based registry"),
        (
            ["--registry=in_memory", "--zk=zk://127.0.0.1:2181"],
            "Expecting a (chroot) path for ZooKeeper ('/' is not supported)",
        ),
        (["--registry=in_memory", "--zk=/mesos"], "Failed to create a master contender: Failed to parse '/mesos'"),
        (["--registry=bogus"], "'bogus' is not a supported option for registry persistence"),
        (["--registry=in_memory", "--agent_reregister_timeout=1mins"], "at least 10mins"),
        (["--registry=in_memory", "--authenticate_agents"], "credentials"),
    ]
    for args, message in cases:
        res = run("master", [f"--port={free_port()}", "--ip=127.0.0.1", *args])
        assert res.returncode == 1, (args, res.stderr)
        assert message in res.stderr, (args, res.stderr)


# ------------------------------------------------------------------------------------------
# resources and attributes
# ------------------------------------------------------------------------------------------


def test_resources_parsing(tmp_path: Path) -> None:
    text = resources.parse_resources("cpus:2;mem:1024;ports:[31000-32000];disk(role1):10", "*")
    assert text[0] == {"name": "cpus", "role": "*", "type": "SCALAR", "scalar": {"value": 2.0}}
    assert text[2] == {
        "name": "ports",
        "role": "*",
        "type": "RANGES",
        "ranges": {"range": [{"begin": 31000, "end": 32000}]},
    }
    assert text[3]["role"] == "role1"
    as_json = resources.parse_resources(json.dumps([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}}]), "*")
    assert as_json == [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}, "role": "*"}]
    with pytest.raises(resources.ResourceError):
        resources.parse_resources("cpus:lots", "*")
    with pytest.raises(resources.ResourceError):
        resources.parse_resources("cpus", "*")
    filled = resources.default_resources(resources.parse_resources("mem:512", "*"), str(tmp_path), "*")
    by_name = {r["name"]: r for r in filled}
    assert by_name["mem"]["scalar"]["value"] == 512
    assert by_name["cpus"]["scalar"]["value"] == float(os.cpu_count() or 1)
    assert by_name["ports"]["ranges"]["range"] == [{"begin": 31000, "end": 32000}]
    assert resources.resources_v0(filled)["ports"] == "[31000-32000]"
    assert resources.attributes_v0(resources.parse_attributes("rack:r1;level:2;ids:[1-3]")) == {
        "rack": "r1",
        "level": 2.0,
        "ids": "[1-3]",
    }


# ------------------------------------------------------------------------------------------
# a standalone master: HTTP, v1 API, maintenance, agents on a static --master
# ------------------------------------------------------------------------------------------


@pytest.fixture
def standalone(procs: list[Proc], tmp_path: Path) -> Proc:
    port = free_port()
    args = master_args(
        port, tmp_path, "--registry=in_memory", "--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2"
    )
    master = Proc("master", args, env={"MESOS_CLUSTER": "lab", "MESOS_NOT_A_FLAG": "x"}).wait_http()
    procs.append(master)
    return master


def test_standalone_master_http(standalone: Proc) -> None:
    port = standalone.port
    version = get_json(port, "/version")
    assert version["version"] == common.MESOS_VERSION and version["build_user"] == "orchestrator-platform-double"
    state = get_json(port, "/master/state")
    assert get_json(port, "/state")["id"] == state["id"]
    assert state["leader"] == state["pid"] == f"master@127.0.0.1:{port}"
    assert state["leader_info"] == {"hostname": "127.0.0.1", "id": state["id"], "pid": state["pid"], "port": port}
    _unused, body = v1(port, {"type": "GET_MASTER"})
    assert body["get_master"]["master_info"]["ip"] == 16777343  # 127.0.0.1 packed as upstream does
    assert state["cluster"] == "lab" and state["flags"]["cluster"] == "lab"
    assert state["flags"]["registry"] == "in_memory" and "elected_time" in state
    for key in ("version", "hostname", "id", "activated_slaves", "deactivated_slaves", "slaves", "frameworks"):
        assert key in state
    metrics = get_json(port, "/metrics/snapshot")
    assert metrics["master/elected"] == 1.0 and metrics["master/uptime_secs"] > 0
    assert "registrar/log/recovered" not in metrics  # in_memory registry has no replicated log
    status, headers, _unused = request(port, "GET", "/master/redirect")
    assert status == 307 and headers["Location"] == f"//127.0.0.1:{port}"
    assert request(port, "GET", "/master/redirect/loop")[0] == 404
    assert request(port, "GET", "/health")[0] == 200
    assert request(port, "GET", "/master/nothing-here")[0] == 404


def test_v1_operator_api(standalone: Proc) -> None:
    port = standalone.port
    reference = {p.stem: json.loads(p.read_text()) for p in REFERENCE.glob("*.json")} if REFERENCE.is_dir() else {}
    status, body = v1(port, {"type": "GET_HEALTH"})
    assert (status, body) == (200, {"type": "GET_HEALTH", "get_health": {"healthy": True}})
    if "GET_HEALTH" in reference:
        assert body == reference["GET_HEALTH"]["response"]["body"]
    status, body = v1(port, {"type": "GET_VERSION"})
    assert status == 200 and set(body["get_version"]["version_info"]) >= {
        "version",
        "build_date",
        "build_time",
        "build_user",
    }
    status, body = v1(port, {"type": "GET_FLAGS"})
    flags = {f["name"]: f["value"] for f in body["get_flags"]["flags"]}
    assert flags["registry"] == "in_memory" and flags["zk_session_timeout"] == "10secs"
    status, body = v1(port, {"type": "GET_MASTER"})
    info = body["get_master"]["master_info"]
    if "GET_MASTER" in reference:
        assert set(reference["GET_MASTER"]["response"]["body"]["get_master"]["master_info"]) <= set(info)
    assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": port}
    assert body["get_master"]["start_time"] > 0 and info["capabilities"][0] == {"type": "AGENT_UPDATE"}
    # Empty lists are omitted (JSON::protobuf), not sent as [].
    assert v1(port, {"type": "GET_AGENTS"}) == (200, {"type": "GET_AGENTS", "get_agents": {}})
    # Content-Type must be exactly application/json (the double cannot decode protobuf).
    status, body = v1(port, {"type": "GET_HEALTH"}, "application/json; charset=utf-8")
    assert (status, body) == (415, "Expecting 'Content-Type' of application/json or application/x-protobuf")
    assert v1(port, {"type": "GET_HEALTH"}, "text/plain")[0] == 415
    status, _unused, body = request(port, "POST", "/api/v1", {"type": "GET_HEALTH"})
    assert (status, body) == (400, b"Expecting 'Content-Type' to be present")
    status, headers, body = request(port, "GET", "/api/v1")
    assert (status, headers["Allow"], body) == (405, "POST", b"Expecting one of { 'POST' }, but received 'GET'")
    assert v1(port, {"nope": 1})[0] == 400
    status, _unused, body = request(port, "POST", "/api/v1", b"{", {"Content-Type": "application/json"})
    assert status == 400 and body.startswith(b"Failed to parse body into JSON")
    status, _unused, _unused = request(
        port, "POST", "/api/v1", {"type": "GET_HEALTH"}, {"Content-Type": "application/json", "Accept": "text/html"}
    )
    assert status == 406


def test_maintenance_validation(standalone: Proc) -> None:
    port = standalone.port
    machine = {"hostname": "agent1.lab", "ip": "10.0.0.1"}
    status, _unused, body = request(port, "POST", "/master/machine/down", [machine])
    assert status == 400 and b"is not part of a maintenance schedule" in body
    bad = [
        (
            {"windows": [{"machine_ids": [], "unavailability": {"start": {"nanoseconds": 1}}}]},
            b"List of machines in the maintenance window is empty",
        ),
        (
            {"windows": [{"machine_ids": [{}], "unavailability": {"start": {"nanoseconds": 1}}}]},
            b"Both 'hostname' and 'ip' for a machine are empty",
        ),
        (
            {"windows": [{"machine_ids": [machine, machine], "unavailability": {"start": {"nanoseconds": 1}}}]},
            b"appears more than once in the schedule",
        ),
        (
            {"windows": [{"machine_ids": [{"ip": "10.0.0.300"}], "unavailability": {"start": {"nanoseconds": 1}}}]},
            b"Failed to parse IP",
        ),
        (
            {
                "windows": [
                    {
                        "machine_ids": [machine],
                        "unavailability": {"start": {"nanoseconds": 1}, "duration": {"nanoseconds": -1}},
                    }
                ]
            },
            b"Unavailability 'duration' is negative",
        ),
    ]
    for schedule, message in bad:
        status, _unused, body = request(port, "POST", "/master/maintenance/schedule", schedule)
        assert status == 400 and message in body, (schedule, body)
    schedule = {
        "windows": [{"machine_ids": [machine], "unavailability": {"start": {"nanoseconds": int(time.time() * 1e9)}}}]
    }
    assert request(port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert get_json(port, "/master/maintenance/schedule") == schedule
    assert get_json(port, "/master/maintenance/status") == {"draining_machines": [{"id": machine}]}
    status, _unused, body = request(port, "POST", "/master/machine/up", [machine])
    assert status == 400 and b"is not in DOWN mode and cannot be brought up" in body
    assert request(port, "POST", "/master/machine/down", [machine])[0] == 200
    status, _unused, body = request(port, "POST", "/master/machine/down", [machine])
    assert status == 400 and b"is not in DRAINING mode and cannot be brought down" in body
    assert get_json(port, "/master/maintenance/status") == {"down_machines": [machine]}
    status, _unused, body = request(port, "POST", "/master/maintenance/schedule", {})
    assert status == 400 and b"is deactivated and cannot be removed from the schedule" in body
    assert request(port, "GET", "/master/machine/up")[0] == 405
    assert request(port, "POST", "/master/machine/up", [machine])[0] == 200
    # A machine brought up stays known in UP mode: it is not DRAINING, so it cannot go down.
    status, _unused, body = request(port, "POST", "/master/machine/down", [machine])
    assert status == 400 and b"is not in DRAINING mode and cannot be brought down" in body
    assert get_json(port, "/master/maintenance/status") == {}
    assert get_json(port, "/master/maintenance/schedule") == {}
    # The same through the v1 API.
    call = {"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": schedule}}
    assert v1(port, call)[0] == 200
    assert v1(port, {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}})[0] == 200
    status, body = v1(port, {"type": "GET_MAINTENANCE_STATUS"})
    assert body == {
        "type": "GET_MAINTENANCE_STATUS",
        "get_maintenance_status": {"status": {"down_machines": [machine]}},
    }
    status, body = v1(port, {"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [{"hostname": "other"}]}})
    assert status == 400 and "is not part of a maintenance schedule" in body


def test_agent_registers_reports_and_is_deactivated(standalone: Proc, procs: list[Proc], tmp_path: Path) -> None:
    aport = free_port()
    agent = Proc("agent", agent_args(aport, f"127.0.0.1:{standalone.port}", tmp_path / "a1")).wait_http()
    procs.append(agent)
    slaves = wait_for(lambda: get_json(standalone.port, "/master/state")["slaves"], 15, "agent registration")
    slave = slaves[0]
    assert slave["pid"] == f"slave(1)@127.0.0.1:{aport}" and slave["active"] is True
    assert (
        slave["resources"]["cpus"] == 2.0
        and slave["resources"]["mem"] == 1024.0
        and slave["resources"]["ports"] == "[31000-32000]"
    )
    assert slave["attributes"] == {"rack": "r1", "zone": "z1"}
    assert slave["id"].startswith(get_json(standalone.port, "/master/state")["id"] + "-S")
    metrics = get_json(standalone.port, "/metrics/snapshot")
    assert (metrics["master/slaves_active"], metrics["master/cpus_total"], metrics["master/mem_total"]) == (
        1.0,
        2.0,
        1024.0,
    )
    _unused, body = v1(standalone.port, {"type": "GET_AGENTS"})
    got = body["get_agents"]["agents"][0]
    example = REFERENCE / "GET_AGENTS.json"
    if example.exists():  # every field of upstream's example is there, with the same types
        ref = json.loads(example.read_text())["response"]["body"]["get_agents"]["agents"][0]
        for key, value in ref.items():
            assert type(got[key]) is type(value), key
        assert set(ref["agent_info"]) <= set(got["agent_info"])
        assert set(ref["total_resources"][3]) == set(got["total_resources"][3])
    assert got["agent_info"]["id"] == {"value": slave["id"]} and got["active"] is True
    assert {"name": "cpus", "role": "*", "type": "SCALAR", "scalar": {"value": 2.0}} in got["total_resources"]
    # The agent's own endpoints.
    astate = get_json(aport, "/slave(1)/state")
    assert astate["id"] == slave["id"] == get_json(aport, "/state")["id"]
    assert astate["resources"]["cpus"] == 2.0 and astate["master_hostname"] == "127.0.0.1"
    assert get_json(aport, "/metrics/snapshot")["slave/registered"] == 1.0
    assert get_json(aport, "/version")["build_user"] == "orchestrator-platform-double"
    assert request(aport, "GET", "/slave(1)/health")[0] == 200
    # Checkpointed agent info, as Mesos lays it out.
    latest = tmp_path / "a1" / "meta" / "slaves" / "latest"
    assert latest.is_symlink() and os.path.basename(os.readlink(latest)) == slave["id"]
    assert json.loads((latest / "slave.info").read_text())["id"] == {"value": slave["id"]}
    # A stopped agent is deactivated at once, then removed when its pings time out.
    agent.kill(signal.SIGTERM)
    wait_for(
        lambda: get_json(standalone.port, "/metrics/snapshot")["master/slaves_inactive"] == 1.0, 10, "deactivation"
    )
    wait_for(lambda: get_json(standalone.port, "/master/state")["unreachable_slaves"] == 1, 10, "removal")
    assert get_json(standalone.port, "/master/state")["slaves"] == []


def test_agent_restart_with_changed_info_fails(standalone: Proc, procs: list[Proc], tmp_path: Path) -> None:
    work = tmp_path / "a2"
    aport = free_port()
    master = f"127.0.0.1:{standalone.port}"
    first = Proc("agent", agent_args(aport, master, work)).wait_http()
    procs.append(first)
    wait_for((work / "meta" / "slaves" / "latest" / "slave.info").exists, 15, "checkpoint")
    agent_id = get_json(aport, "/state")["id"]
    first.kill()
    # Same settings: recovers the same agent ID.
    again = Proc("agent", agent_args(aport, master, work)).wait_http()
    procs.append(again)
    wait_for(lambda: get_json(aport, "/metrics/snapshot")["slave/registered"] == 1.0, 15, "re-registration")
    assert get_json(aport, "/state")["id"] == agent_id
    again.kill()
    # Changed resources (or attributes): "Incompatible agent info", exit 1.
    for changed in ({"resources": "cpus:4;mem:1024;disk:2048;ports:[31000-32000]"}, {"attributes": "rack:r2;zone:z1"}):
        res = run("agent", agent_args(aport, master, work, **changed))
        assert res.returncode == 1 and "Failed to perform recovery: Incompatible agent info detected" in res.stderr
        assert f"rm -f {work}/meta/slaves/latest" in res.stderr
    # --reconfiguration_policy=additive accepts additions only.
    res = run("agent", agent_args(aport, master, work, "--reconfiguration_policy=additive", attributes="rack:r1"))
    assert res.returncode == 1 and "not permitted under `additive` policy" in res.stderr
    added_args = agent_args(
        aport, master, work, "--reconfiguration_policy=additive", attributes="rack:r1;zone:z1;row:3"
    )
    added = Proc("agent", added_args).wait_http()
    procs.append(added)
    added.kill()
    # Removing the latest symlink starts a new agent.
    (work / "meta" / "slaves" / "latest").unlink()
    fresh = Proc("agent", agent_args(aport, master, work, resources="cpus:4")).wait_http()
    procs.append(fresh)
    new_id = wait_for(lambda: get_json(aport, "/state")["id"], 15, "new agent id")
    assert new_id != agent_id


# ------------------------------------------------------------------------------------------
# agent start-up failures: docker, cgroups, isolators
# ------------------------------------------------------------------------------------------


def _fake_docker(path: str, answer: bytes) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _unused = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(answer)

    threading.Thread(target=loop, daemon=True).start()
    return server


def test_agent_docker_containerizer_needs_an_engine(tmp_path: Path, procs: list[Proc]) -> None:
    base = [
        "--containerizers=docker,mesos",
        "--docker=/bin/true",
        f"--work_dir={tmp_path}/w",
        "--master=127.0.0.1:1",
        "--ip=127.0.0.1",
    ]
    res = run("agent", [*base, f"--port={free_port()}", f"--docker_socket={tmp_path}/none.sock"])
    assert res.returncode == 1
    assert "Failed to create a containerizer: Could not create DockerContainerizer" in res.stderr
    sock_path = f"{tmp_path}/bad.sock"
    server = _fake_docker(sock_path, b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
    res = run("agent", [*base, f"--port={free_port()}", f"--docker_socket={sock_path}"])
    server.close()
    assert res.returncode == 1 and "Could not create DockerContainerizer" in res.stderr
    sock_path = f"{tmp_path}/ok.sock"
    server = _fake_docker(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    try:
        port = free_port()
        procs.append(Proc("agent", [*base, f"--port={port}", f"--docker_socket={sock_path}"]).wait_http())
    finally:
        server.close()
    res = run(
        "agent",
        ["--containerizers=docker", "--docker=/nonexistent/docker", f"--work_dir={tmp_path}/w", "--master=127.0.0.1:1"],
    )
    assert res.returncode == 1 and "Could not create DockerContainerizer" in res.stderr


def _hierarchy(root: Path, subsystems: list[str], cfs: bool = True) -> Path:
    for sub in subsystems:
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / "cgroup.procs").write_text("")
    if cfs and "cpu" in subsystems:
        (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    return root


def test_agent_cgroups_isolation_needs_controllers(tmp_path: Path, procs: list[Proc]) -> None:
    def args(hierarchy: Path, isolation: str, *extra: str) -> list[str]:
        return [
            f"--isolation={isolation}",
            f"--cgroups_hierarchy={hierarchy}",
            f"--work_dir={tmp_path}/w",
            "--master=127.0.0.1:1",
            "--ip=127.0.0.1",
            f"--port={free_port()}",
            *extra,
        ]

    partial = _hierarchy(tmp_path / "partial", ["cpu", "cpuacct"])
    res = run("agent", args(partial, "cgroups/cpu,cgroups/mem"))
    assert res.returncode == 1
    assert "Could not create MesosContainerizer: Failed to create isolator 'cgroups/mem'" in res.stderr
    assert "subsystem 'memory'" in res.stderr
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpu memory pids\n")
    res = run("agent", args(unified, "cgroups/cpu"))
    assert res.returncode == 1 and "cgroup v2" in res.stderr
    nocfs = _hierarchy(tmp_path / "nocfs", ["cpu", "cpuacct", "memory"], cfs=False)
    res = run("agent", args(nocfs, "cgroups/cpu,cgroups/mem", "--cgroups_enable_cfs"))
    assert res.returncode == 1 and "cpu.cfs_quota_us" in res.stderr
    res = run("agent", args(nocfs, "posix/cpu,posix/foo"))
    assert res.returncode == 1 and "Unknown or unsupported isolator 'posix/foo'" in res.stderr
    res = run("agent", args(nocfs, "posix/cpu", "--containerizers=mesos,rkt"))
    assert res.returncode == 1 and "rkt" in res.stderr
    full = _hierarchy(tmp_path / "full", ["cpu", "cpuacct", "memory"])
    good = Proc("agent", args(full, "cgroups/cpu,cgroups/mem", "--cgroups_enable_cfs"))
    procs.append(good)
    good.wait_http()


# ------------------------------------------------------------------------------------------
# HA: election through the real ZooKeeper ensemble
# ------------------------------------------------------------------------------------------


def _leader(ports: list[int]) -> int | None:
    elected = []
    for port in ports:
        try:
            if get_json(port, "/metrics/snapshot")["master/elected"] == 1.0:
                elected.append(port)
        except (OSError, AssertionError):
            continue
    return elected[0] if len(elected) == 1 else None


def test_election_redirects_and_agent_failover(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:
    zk_path = f"/mesos-{uuid.uuid4().hex[:8]}"
    zk_url = f"zk://{zk_ensemble.connect_string}{zk_path}"
    ports = [free_port() for _unused in range(3)]
    masters = {}
    for port in ports:
        args = master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=2", "--zk_session_timeout=2secs")
        masters[port] = Proc("master", args)
        procs.append(masters[port])
    for proc in masters.values():
        proc.wait_http()
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    followers = [p for p in ports if p != leader]

    with kazoo_client(zk_ensemble.connect_string) as client:

        def contenders() -> list[str]:
            return sorted(c for c in client.get_children(zk_path) if c.startswith("json.info_"))

        infos = wait_for(lambda: len(contenders()) == 3 and contenders(), 10, "three contenders")
        assert "log_replicas" in client.get_children(zk_path)
        data, _unused = client.get(f"{zk_path}/{infos[0]}")
        info = json.loads(data)
        # Compact JSON with sorted keys, as stout stringifies JSON::protobuf(MasterInfo).
        assert data.decode() == json.dumps(info, sort_keys=True, separators=(",", ":"))
        assert info["port"] == leader and info["pid"] == f"master@127.0.0.1:{leader}"
        assert info["ip"] == 16777343 and info["address"] == {
            "hostname": "127.0.0.1",
            "ip": "127.0.0.1",
            "port": leader,
        }
        assert info["capabilities"] == [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {"type": "QUOTA_V2"}]
        wait_for(lambda: len(client.get_children(f"{zk_path}/log_replicas")) == 3, 10, "three log replicas")

    # Redirects: /master/redirect answers 307 to //leader:port everywhere (the leader included);
    # on a follower the endpoints of src/master/http.cpp that check `elected()` redirect keeping
    # path and query (/master/state among them); /master/flags and /health are served locally.
    for port in ports:
        wait_for(lambda p=port: request(p, "GET", "/master/redirect")[0] == 307, 10, "the leader to be detected")
        status, headers, _unused = request(port, "GET", "/master/redirect")
        assert (status, headers.get("Location")) == (307, f"//127.0.0.1:{leader}")
    follower = followers[0]
    for path in ("/master/maintenance/status?jsonp=x", "/master/state?jsonp=cb", "/state", "/master/slaves"):
        status, headers, _unused = request(follower, "GET", path)
        assert (status, headers["Location"]) == (307, f"//127.0.0.1:{leader}{path}"), path
    status, headers, _unused = request(
        follower, "POST", "/api/v1", {"type": "GET_HEALTH"}, {"Content-Type": "application/json"}
    )
    assert (status, headers["Location"]) == (307, f"//127.0.0.1:{leader}/api/v1")
    assert get_json(follower, "/master/flags")["flags"]["quorum"] == "2"
    assert request(follower, "GET", "/master/health")[0] == 200
    lstate = get_json(leader, "/master/state")
    assert lstate["leader"] == lstate["pid"] == f"master@127.0.0.1:{leader}" and "elected_time" in lstate
    assert lstate["leader_info"] == {"hostname": "127.0.0.1", "id": info["id"], "pid": info["pid"], "port": leader}
    metrics = {p: get_json(p, "/metrics/snapshot") for p in ports}
    assert [metrics[p]["master/elected"] for p in ports].count(1.0) == 1
    wait_for(lambda: get_json(leader, "/metrics/snapshot")["registrar/log/recovered"] == 1.0, 10, "log recovered")

    # An agent finds the leader through ZooKeeper, then the next leader after a failover.
    aport = free_port()
    agent = Proc("agent", agent_args(aport, zk_url, tmp_path / "ha-agent", "--zk_session_timeout=2secs")).wait_http()
    procs.append(agent)
    slaves = wait_for(lambda: get_json(leader, "/master/state")["slaves"], 15, "agent on the leader")
    agent_id = slaves[0]["id"]
    assert request(follower, "GET", "/master/state")[0] == 307
    masters[leader].kill()  # SIGKILL: its znode goes with its session (2 s)
    new_leader = wait_for(lambda: _leader(followers), 20, "a new leader")
    assert new_leader != leader
    slaves = wait_for(lambda: get_json(new_leader, "/master/state")["slaves"], 20, "agent on the new leader")
    assert slaves[0]["id"] == agent_id and slaves[0]["active"] is True
    assert get_json(new_leader, "/metrics/snapshot")["master/slaves_active"] == 1.0
    other = next(p for p in followers if p != new_leader)
    status, headers, _unused = request(other, "GET", "/master/redirect")
    assert (status, headers["Location"]) == (307, f"//127.0.0.1:{new_leader}")


def test_no_leader_means_503(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:
    # A master whose registry never recovers (quorum 2, alone) is elected in ZooKeeper but
    # exits when the registry fetch times out; the detector answers 503 when nobody leads.
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    port = free_port()
    alone = Proc(
        "master", master_args(port, tmp_path, f"--zk={zk_url}", "--quorum=2", "--registry_fetch_timeout=3secs")
    )
    procs.append(alone)
    alone.wait_http()
    assert get_json(port, "/metrics/snapshot")["registrar/log/recovered"] == 0.0
    wait_for(lambda: _leader([port]) == port, 10, "the lone master to be elected")
    status, _unused, body = request(
        port, "POST", "/api/v1", {"type": "GET_HEALTH"}, {"Content-Type": "application/json"}
    )
    assert (status, body) == (503, b"Master has not finished recovery")
    assert alone.wait_exit(15) == 1
    assert "Recovery failed: Failed to recover registrar" in alone.output()
    # A master that is not elected and sees no leader: 503 on /master/redirect.
    port = free_port()
    follower = Proc("master", master_args(port, tmp_path, "--zk=zk://127.0.0.1:1/mesos", "--quorum=1"))
    procs.append(follower)
    follower.wait_http()
    status, _unused, _unused = request(port, "GET", "/master/redirect")
    assert status == 503
    status, _unused, _unused = request(port, "GET", "/master/maintenance/status")
    assert status == 503
    assert get_json(port, "/metrics/snapshot")["master/elected"] == 0.0


def test_leading_master_exits_when_its_session_is_lost(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:
    zk_url = f"zk://{zk_ensemble.connect_string}/mesos-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    masters = {
        p: Proc(
            "master", master_args(p, tmp_path, f"--zk={zk_url}", "--registry=in_memory", "--zk_session_timeout=2secs")
        )
        for p in ports
    }
    procs.extend(masters.values())
    for proc in masters.values():
        proc.wait_http()
    leader = wait_for(lambda: _leader(ports), 20, "one elected master")
    follower = next(p for p in ports if p != leader)
    # Both are contending (the follower knows the leader) before the quorum goes away.
    wait_for(lambda: request(follower, "GET", "/master/redirect")[0] == 307, 10, "the follower to see the leader")
    members = list(zk_ensemble.members)
    killed = members[:2]
    try:
        for member in killed:
            member.kill()
        assert masters[leader].wait_exit(20) == 1
        assert "Lost candidacy as a leader... committing suicide!" in masters[leader].output()
        assert masters[follower].popen.poll() is None  # a follower re-contends instead
    finally:
        for member in killed:
            member.start()
        zk_ensemble.wait_for_quorum()
    wait_for(lambda: _leader([follower]) == follower, 30, "the follower to lead")
    assert masters[follower].popen.poll() is None
    # The follower abandoned its old session (group.cpp forces an expiration): once that session
    # is gone on the server, exactly one contender is left.
    with kazoo_client(zk_ensemble.connect_string) as client:
        path = "/" + zk_url.rsplit("/", 1)[1]
        wait_for(
            lambda: len([c for c in client.get_children(path) if c.startswith("json.info_")]) == 1,
            15,
            "a single contender",
        )


def test_zk_credentials_protect_the_group(zk_ensemble: Any, procs: list[Proc], tmp_path: Path) -> None:
    # src/zookeeper/group.cpp: with user:pass in the URL, znodes get EVERYONE_READ_CREATOR_ALL.
    zk_path = f"/mesos-{uuid.uuid4().hex[:8]}"
    port = free_port()
    zk_url = f"zk://mesos:s3cret@{zk_ensemble.connect_string}{zk_path}"
    procs.append(Proc("master", master_args(port, tmp_path, f"--zk={zk_url}", "--registry=in_memory")).wait_http())
    wait_for(lambda: _leader([port]) == port, 20, "the master to lead")
    with kazoo_client(zk_ensemble.connect_string) as client:
        child = next(c for c in client.get_children(zk_path) if c.startswith("json.info_"))
        acls, _unused = client.get_acls(f"{zk_path}/{child}")
        schemes = sorted((a.id.scheme, a.perms) for a in acls)
        assert schemes == [("digest", 31), ("world", 1)]


def test_machine_down_removes_its_agents(standalone: Proc, procs: list[Proc], tmp_path: Path) -> None:
    # master.cpp / http.cpp: an agent's machine is (hostname, IP of its pid), known in UP mode;
    # 'Machine DOWN' removes and shuts down its agents, and a DOWN machine cannot register.
    port = standalone.port
    aport = free_port()
    agent = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "m1")).wait_http()
    procs.append(agent)
    wait_for(lambda: get_json(port, "/master/state")["slaves"], 15, "agent registration")
    machine = {"hostname": "127.0.0.1", "ip": "127.0.0.1"}
    status, _unused, body = request(port, "POST", "/master/machine/down", [machine])
    assert status == 400 and b"is not in DRAINING mode" in body
    start = {"nanoseconds": int(time.time() * 1e9)}
    schedule = {"windows": [{"machine_ids": [machine], "unavailability": {"start": start}}]}
    assert request(port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert get_json(port, "/master/maintenance/status") == {"draining_machines": [{"id": machine}]}
    assert request(port, "POST", "/master/machine/down", [machine])[0] == 200
    assert get_json(port, "/master/state")["slaves"] == []
    assert agent.wait_exit(10) == 0
    assert "Agent asked to shut down" in agent.output()
    again = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "m2"))
    procs.append(again)
    assert again.wait_exit(15) == 0
    assert request(port, "POST", "/master/machine/up", [machine])[0] == 200
    back = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "m3")).wait_http()
    procs.append(back)
    wait_for(lambda: get_json(port, "/master/state")["slaves"], 15, "registration after machine up")


def test_quorum_is_needed_only_with_zk_and_the_replicated_log(procs: list[Proc], tmp_path: Path) -> None:
    # src/master/main.cpp: without --zk the replicated log is a quorum of one.
    port = free_port()
    procs.append(Proc("master", master_args(port, tmp_path)).wait_http())
    metrics = get_json(port, "/metrics/snapshot")
    assert metrics["master/elected"] == 1.0 and metrics["registrar/log/recovered"] == 1.0
    assert (tmp_path / f"m{port}" / "replicated_log").is_dir()


# ------------------------------------------------------------------------------------------
# agents shut down by the master, re-registration at the same address, MachineID matching
# ------------------------------------------------------------------------------------------


def _patient_master(procs: list[Proc], tmp_path: Path) -> Proc:
    # Health checks slow enough that no agent is marked unreachable while a test looks at it.
    port = free_port()
    args = master_args(
        port, tmp_path, "--registry=in_memory", "--agent_ping_timeout=15secs", "--max_agent_ping_timeouts=4"
    )
    master = Proc("master", args).wait_http()
    procs.append(master)
    return master


def _with_hostname(args: list[str], hostname: str) -> list[str]:
    return [f"--hostname={hostname}" if a.startswith("--hostname=") else a for a in args]


def _agent_ids(port: int) -> list[str]:
    return [s["id"] for s in get_json(port, "/master/state")["slaves"]]


def test_agent_shut_down_by_its_master_comes_back_as_the_same_agent(
    standalone: Proc, procs: list[Proc], tmp_path: Path
) -> None:
    # slave.cpp Slave::shutdown + Slave::finalize (1.x): a ShutdownMessage ends the agent but
    # leaves meta/slaves/latest in place (SlaveRecoveryTest.ShutdownSlave: "reregister as the
    # same agent"); master.cpp _registerSlave/_reregisterSlave refuse agents of a DOWN machine
    # ("Machine is `DOWN`") and re-admit the recovered id once the machine is up.
    port = standalone.port
    aport = free_port()
    work = tmp_path / "same"
    latest = work / "meta" / "slaves" / "latest"
    args = agent_args(aport, f"127.0.0.1:{port}", work)
    agent = Proc("agent", args).wait_http()
    procs.append(agent)
    (agent_id,) = wait_for(lambda: _agent_ids(port), 15, "agent registration")
    machine = {"hostname": "127.0.0.1", "ip": "127.0.0.1"}
    schedule = {"windows": [{"machine_ids": [machine], "unavailability": {"start": {"nanoseconds": 1}}}]}
    assert request(port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert request(port, "POST", "/master/machine/down", [machine])[0] == 200
    assert agent.wait_exit(10) == 0
    assert "Operator initiated 'Machine DOWN'" in agent.output()
    assert latest.is_symlink() and os.path.basename(os.readlink(latest)) == agent_id
    # While the machine is down the recovered agent is refused; the link stays.
    refused = Proc("agent", args)
    procs.append(refused)
    assert refused.wait_exit(15) == 0
    assert "because 'Machine is `DOWN`'" in refused.output()
    assert latest.is_symlink()
    assert request(port, "POST", "/master/machine/up", [machine])[0] == 200
    back = Proc("agent", args).wait_http()
    procs.append(back)
    assert wait_for(lambda: _agent_ids(port), 15, "re-registration") == [agent_id]
    assert get_json(aport, "/state")["id"] == agent_id
    metrics = get_json(port, "/metrics/snapshot")
    assert (metrics["master/slave_registrations"], metrics["master/slave_reregistrations"]) == (1.0, 1.0)
    assert metrics["master/slave_removals"] == 1.0  # Machine DOWN: no reason counter
    assert metrics["master/slave_removals/reason_registered"] == 0.0
    assert metrics["master/slave_removals/reason_unregistered"] == 0.0
    # Plain SIGTERM keeps the link as well (recovery needs it).
    back.kill(signal.SIGTERM)
    assert latest.is_symlink() and os.path.basename(os.readlink(latest)) == agent_id


def test_new_agent_at_the_same_address_replaces_the_disconnected_one(procs: list[Proc], tmp_path: Path) -> None:
    # master.cpp Master::_registerSlave: a registration from the pid of a registered agent that
    # is disconnected removes that agent ("Removing old disconnected agent ... because a
    # registration attempt occurred"; removeSlave with slave_removals_reason_registered) and
    # registers the newcomer with a new agent id.
    master = _patient_master(procs, tmp_path)
    port = master.port
    aport = free_port()
    first = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "w1")).wait_http()
    procs.append(first)
    (id1,) = wait_for(lambda: _agent_ids(port), 15, "first registration")
    first.kill(signal.SIGTERM)
    metrics = wait_for(
        lambda: (m := get_json(port, "/metrics/snapshot"))["master/slaves_disconnected"] == 1.0 and m,
        10,
        "disconnection",
    )
    assert (metrics["master/slaves_inactive"], metrics["master/slaves_active"]) == (1.0, 0.0)
    # A new agent (its work_dir holds no agent id) at the same ip:port.
    second = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "w2")).wait_http()
    procs.append(second)
    (id2,) = wait_for(lambda: [i for i in _agent_ids(port) if i != id1], 15, "second registration")
    state = get_json(port, "/master/state")
    assert [s["id"] for s in state["slaves"]] == [id2]
    assert state["unreachable_slaves"] == 0 and state["deactivated_slaves"] == 0
    metrics = get_json(port, "/metrics/snapshot")
    assert metrics["master/slave_removals"] == 1.0 and metrics["master/slave_removals/reason_registered"] == 1.0
    assert metrics["master/slave_registrations"] == 2.0 and metrics["master/slave_reregistrations"] == 0.0
    assert (metrics["master/slaves_active"], metrics["master/slaves_inactive"]) == (1.0, 0.0)
    assert (metrics["master/slaves_connected"], metrics["master/slaves_disconnected"]) == (1.0, 0.0)
    assert "Removing old disconnected agent " + id1 in master.output()
    # A killed agent's link breaks too (Master::exited): the next process there replaces it.
    second.kill(signal.SIGKILL)
    third = Proc("agent", agent_args(aport, f"127.0.0.1:{port}", tmp_path / "w3")).wait_http()
    procs.append(third)
    (id3,) = wait_for(lambda: [i for i in _agent_ids(port) if i not in (id1, id2)], 15, "third registration")
    assert _agent_ids(port) == [id3]
    metrics = get_json(port, "/metrics/snapshot")
    assert metrics["master/slave_removals/reason_registered"] == 2.0 and metrics["master/slaves_active"] == 1.0


def test_registration_retry_of_a_connected_agent_gets_its_id_again(procs: list[Proc], tmp_path: Path) -> None:
    # master.cpp Master::_registerSlave: "Agent ... already registered, resending
    # acknowledgement" for a connected agent registering again from the same pid. Driven over
    # the double's own agent channel, as its agent process would.
    master = _patient_master(procs, tmp_path)
    port = master.port
    pid = f"slave(1)@127.0.0.1:{free_port()}"
    info = {"hostname": "127.0.0.1", "port": 5051, "resources": [], "attributes": []}

    def register(incarnation: str) -> str:
        status, _unused, body = request(
            port, "POST", common.DOUBLE_AGENT_PATH + "/register", {"info": info, "pid": pid, "incarnation": incarnation}
        )
        assert status == 200, body
        return str(json.loads(body)["id"])

    first = register("process-1")
    assert register("process-1") == first
    metrics = get_json(port, "/metrics/snapshot")
    assert (metrics["master/slave_registrations"], metrics["master/slave_removals"]) == (1.0, 0.0)
    # Another process at that pid: the old one is gone, it is replaced.
    second = register("process-2")
    assert second != first and _agent_ids(port) == [second]
    assert get_json(port, "/metrics/snapshot")["master/slave_removals/reason_registered"] == 1.0


def test_health_check_failure_is_unreachability_not_removal(
    standalone: Proc, procs: list[Proc], tmp_path: Path
) -> None:
    # master.cpp SlaveObserver::markUnreachable/_markUnreachable count
    # master/slave_unreachable_scheduled and _completed; Master::markUnreachable goes through
    # __removeSlave, which does not count master/slave_removals.
    port = standalone.port
    agent = Proc("agent", agent_args(free_port(), f"127.0.0.1:{port}", tmp_path / "u1")).wait_http()
    procs.append(agent)
    wait_for(lambda: _agent_ids(port), 15, "registration")
    agent.kill(signal.SIGKILL)
    wait_for(lambda: get_json(port, "/master/state")["unreachable_slaves"] == 1, 15, "unreachable")
    metrics = get_json(port, "/metrics/snapshot")
    assert metrics["master/slave_unreachable_scheduled"] == metrics["master/slave_unreachable_completed"] == 1.0
    assert metrics["master/slave_removals"] == 0.0 and metrics["master/slave_unreachable_canceled"] == 0.0


def test_machine_ids_match_hostnames_in_any_case(standalone: Proc, procs: list[Proc], tmp_path: Path) -> None:
    # include/mesos/type_utils.hpp: MachineID operator== and std::hash lower-case the hostname
    # (docs/maintenance.md: "The hostname is not case-sensitive"). The schedule is kept as
    # posted; /maintenance/status names a machine by its key in the master's `machines` map,
    # i.e. as it was first known (here: as its agent announced it).
    port = standalone.port
    aport = free_port()
    work = tmp_path / "case"
    args = _with_hostname(agent_args(aport, f"127.0.0.1:{port}", work), "Agent1.Example")
    agent = Proc("agent", args).wait_http()
    procs.append(agent)
    wait_for(lambda: _agent_ids(port), 15, "registration")
    known = {"hostname": "Agent1.Example", "ip": "127.0.0.1"}
    lower = {"hostname": "agent1.example", "ip": "127.0.0.1"}
    start = {"nanoseconds": 1}
    twice = {"windows": [{"machine_ids": [known, lower], "unavailability": {"start": start}}]}
    status, _unused, body = request(port, "POST", "/master/maintenance/schedule", twice)
    assert status == 400
    assert body == b'Machine \'{"hostname":"agent1.example","ip":"127.0.0.1"}\' appears more than once in the schedule'
    schedule = {"windows": [{"machine_ids": [lower], "unavailability": {"start": start}}]}
    assert request(port, "POST", "/master/maintenance/schedule", schedule)[0] == 200
    assert get_json(port, "/master/maintenance/schedule") == schedule
    assert get_json(port, "/master/maintenance/status") == {"draining_machines": [{"id": known}]}
    assert request(port, "POST", "/master/machine/down", [{"hostname": "AGENT1.EXAMPLE", "ip": "127.0.0.1"}])[0] == 200
    assert agent.wait_exit(10) == 0 and _agent_ids(port) == []
    assert get_json(port, "/master/maintenance/status") == {"down_machines": [known]}
    refused = Proc("agent", args)  # the agent's "Agent1.Example" matches the DOWN machine
    procs.append(refused)
    assert refused.wait_exit(15) == 0
    status, _unused, body = request(port, "POST", "/master/maintenance/schedule", {})
    assert status == 400
    assert body == (
        b'Machine \'{"hostname":"Agent1.Example","ip":"127.0.0.1"}\' is deactivated and cannot be removed '
        b"from the schedule"
    )
    assert request(port, "POST", "/master/machine/up", [{"hostname": "agent1.EXAMPLE", "ip": "127.0.0.1"}])[0] == 200
    assert get_json(port, "/master/maintenance/schedule") == {}
    assert get_json(port, "/master/maintenance/status") == {}
    # A machine first known from a schedule keeps the posted form in the status.
    other = {"hostname": "Machine2", "ip": "10.0.0.2"}
    first = {"windows": [{"machine_ids": [other], "unavailability": {"start": start}}]}
    assert request(port, "POST", "/master/maintenance/schedule", first)[0] == 200
    renamed = {"hostname": "machine2", "ip": "10.0.0.2"}
    again = {"windows": [{"machine_ids": [renamed], "unavailability": {"start": start}}]}
    assert request(port, "POST", "/master/maintenance/schedule", again)[0] == 200
    assert get_json(port, "/master/maintenance/schedule") == again
    assert get_json(port, "/master/maintenance/status") == {"draining_machines": [{"id": other}]}
    assert request(port, "POST", "/master/maintenance/schedule", {})[0] == 200
