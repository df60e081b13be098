"""The lab's converged Mesos cluster (the PROTOCOL DOUBLE), checked from outside the roles."""

from __future__ import annotations

import re

import pytest
from lab_inventory import ZOOKEEPERS, group_vars
from mesos_checks import (
    AGENT_PORT,
    AGENTS,
    MASTER_PORT,
    MASTERS,
    agents_by_hostname,
    elected_masters,
    http_json,
)
from scenario_helpers import docker_exec, run_module


def test_exactly_one_leader_and_every_master_follows_it(mesos_ips):
    ips = mesos_ips
    assert len(elected_masters(ips)) == 1
    zk = "zk://" + ",".join(f"{name}:2181" for name in ZOOKEEPERS) + "/mesos"
    info = run_module(
        MASTERS[0],
        "orchestrator.platform.mesos_master_info",
        {"masters": [f"{name}:{MASTER_PORT}" for name in MASTERS], "zk": zk, "require_leader": True},
    )
    assert not info.get("failed"), info
    # ZooKeeper's lowest json.info_ and the masters' /master/redirect name the same master.
    assert info["leader"]["agree"], info["leader"]
    assert info["leader"]["hostport"] == f"{elected_masters(ips)[0]}:{MASTER_PORT}"
    assert len(info["contenders"]) == 3, info["contenders"]
    assert all(m["healthy"] and m["leader"] == info["leader"]["hostport"] for m in info["masters"]), info["masters"]
    assert info["cluster"] == group_vars("mesos_masters")["mesos_master_cluster"]


def test_master_flags_quorum_zk_and_work_dir(mesos_ips):
    leader = elected_masters(mesos_ips)[0]
    status, flags = http_json(f"http://{mesos_ips[leader]}:{MASTER_PORT}/master/flags")
    assert status == 200
    flags = flags["flags"]
    assert flags["quorum"] == "2"
    assert flags["zk"] == "zk://" + ",".join(f"{name}:2181" for name in ZOOKEEPERS) + "/mesos"
    assert flags["work_dir"] == "/var/lib/mesos/master"
    assert flags["registry"] == "replicated_log"
    assert flags["hostname"] == leader


def test_both_agents_registered_and_active_with_resources_and_attributes(mesos_ips):
    settings = group_vars("mesos_agents")
    resources = dict(item.split(":", 1) for item in settings["mesos_agent_resources"].split(";"))
    agents = agents_by_hostname(mesos_ips)
    assert sorted(agents) == sorted(AGENTS), agents
    for agent in agents.values():
        assert agent["active"], agent
        assert agent["resources"]["cpus"] == float(resources["cpus"])
        assert agent["resources"]["mem"] == float(resources["mem"])
        assert agent["attributes"] == settings["mesos_agent_attributes"]


def test_agent_process_runs_with_cgroups_isolators_and_docker_containerizer(mesos_ips):
    ips = mesos_ips
    for name in AGENTS:
        # The agent's own view of its flags...
        status, doc = http_json(f"http://{ips[name]}:{AGENT_PORT}/flags")
        assert status == 200
        flags = doc["flags"]
        assert flags["isolation"] == "cgroups/cpu,cgroups/mem"
        assert flags["containerizers"] == "docker,mesos"
        assert flags["cgroups_enable_cfs"] == "true"
        assert flags["cgroups_hierarchy"] == "/sys/fs/cgroup"
        assert flags["cgroups_root"] == "mesos"
        assert flags["executor_registration_timeout"] == "5mins"
        assert flags["recover"] == "reconnect"
        # ...and the environment of the running process (what systemd passed it).
        pid = docker_exec(name, "systemctl show -p MainPID --value mesos-agent").strip()
        assert pid not in ("", "0")
        environ = docker_exec(name, f"tr '\\0' '\\n' < /proc/{pid}/environ")
        assert "MESOS_ISOLATION=cgroups/cpu,cgroups/mem" in environ
        assert "MESOS_CONTAINERIZERS=docker,mesos" in environ


def test_docker_engine_answers_and_runs_a_container_on_each_agent():
    for name in AGENTS:
        # The engine itself answers on its socket (the client asks the server for its version).
        assert docker_exec(name, "docker version --format '{{.Server.Version}}'").strip().startswith("20.10")
        info = docker_exec(name, "docker info --format '{{.CgroupDriver}} {{.Driver}}'").split()
        assert info == ["cgroupfs", "vfs"], info
        # A real container, from an image made of the host's own /usr/bin/true (no registry here).
        out = docker_exec(
            name,
            "docker image inspect verify-true:1 >/dev/null 2>&1 || "
            "tar -C / -ch usr/bin/true usr/lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 2>/dev/null "
            "| docker import - verify-true:1 >/dev/null; "
            "docker run --rm --network none verify-true:1 /usr/bin/true && echo ran",
        )
        assert out.strip().endswith("ran"), out


def _unit_properties(name: str, unit: str, *props: str) -> dict[str, str]:
    out = docker_exec(name, f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props))
    return dict(line.split("=", 1) for line in out.strip().splitlines())


def _assert_secret_file(name: str, path: str) -> None:
    assert docker_exec(name, f"stat -c '%a %U' {path}").split() == ["600", "root"], path


@pytest.mark.parametrize("name", MASTERS)
def test_master_unit_hardening_and_secret_file(name):
    props = _unit_properties(name, "mesos-master", "ActiveState", "User", "NoNewPrivileges", "ProtectSystem", "Restart")
    assert props == {
        "ActiveState": "active",
        "User": "mesos",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "Restart": "always",
    }
    _assert_secret_file(name, "/etc/mesos/master.env")
    # The wrappers say what they are: a protocol double, not Mesos.
    assert "PROTOCOL DOUBLE" in docker_exec(name, "cat /usr/sbin/mesos-master")


@pytest.mark.parametrize("name", AGENTS)
def test_agent_unit_delegates_cgroups_and_starts_after_docker(name):
    props = _unit_properties(name, "mesos-agent", "ActiveState", "Delegate", "Slice", "KillMode", "After")
    assert props["ActiveState"] == "active"
    assert props["Delegate"] == "yes"
    assert props["Slice"] == "mesos.slice"
    assert props["KillMode"] == "process"
    assert re.search(r"\bdocker\.service\b", props["After"]), props["After"]
    _assert_secret_file(name, "/etc/mesos/agent.env")
    assert "PROTOCOL DOUBLE" in docker_exec(name, "cat /usr/sbin/mesos-agent")
