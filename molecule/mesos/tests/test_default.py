"""The converged cluster, checked from outside the roles."""

from __future__ import annotations

import re

from conftest import (
    AGENT_PORT,
    AGENTS,
    MASTER_PORT,
    MASTERS,
    ZOOKEEPERS,
    agents_by_hostname,
    elected_masters,
    http_json,
)
from scenario_helpers import docker_exec, run_module


def test_exactly_one_leader_and_every_master_follows_it(ips):
    assert len(elected_masters(ips)) == 1
    zk = "zk://" + ",".join(f"{name}:2181" for name in ZOOKEEPERS) + "/mesos"
    info = run_module(
        "mesos-master1",
        "orchestrator.platform.mesos_master_info",
        {"masters": [f"{name}:{MASTER_PORT}" for name in MASTERS], "zk": zk, "require_leader": True},
    )
    assert not info.get("failed"), info
    # ZooKeeper's lowest json.info_ and the masters' /master/redirect name the same master.
    assert info["leader"]["agree"], info["leader"]
    assert info["leader"]["hostport"] == f"{elected_masters(ips)[0]}:{MASTER_PORT}"
    assert len(info["contenders"]) == 3, info["contenders"]
    assert all(m["healthy"] and m["leader"] == info["leader"]["hostport"] for m in info["masters"]), info["masters"]
    assert info["cluster"] == "mesos"


def test_master_flags_quorum_zk_and_work_dir(ips):
    leader = elected_masters(ips)[0]
    status, flags = http_json(f"http://{ips[leader]}:{MASTER_PORT}/master/flags")
    assert status == 200
    flags = flags["flags"]
    assert flags["quorum"] == "2"
    assert flags["zk"] == "zk://mesos-zk1:2181,mesos-zk2:2181,mesos-zk3:2181/mesos"
    assert flags["work_dir"] == "/var/lib/mesos/master"
    assert flags["registry"] == "replicated_log"
    assert flags["hostname"] == leader


def test_both_agents_registered_and_active_with_resources_and_attributes(ips):
    agents = agents_by_hostname(ips)
    assert sorted(agents) == sorted(AGENTS), agents
    for agent in agents.values():
        assert agent["active"], agent
        assert agent["resources"]["cpus"] == 1.0
        assert agent["resources"]["mem"] == 512.0
        assert agent["attributes"] == {"rack": "r1"}


def test_agent_process_runs_with_cgroups_isolators_and_docker_containerizer(ips):
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


def test_units_hardening_and_secret_files(host):
    name = host.backend.get_hostname()
    if name in MASTERS:
        unit = host.run(
            "systemctl show mesos-master -p ActiveState -p User -p NoNewPrivileges -p ProtectSystem -p Restart"
        ).stdout
        assert "ActiveState=active" in unit
        assert "User=mesos" in unit
        assert "NoNewPrivileges=yes" in unit
        assert "ProtectSystem=strict" in unit
        assert "Restart=always" in unit
        env_file = host.file("/etc/mesos/master.env")
    elif name in AGENTS:
        unit = host.run(
            "systemctl show mesos-agent -p ActiveState -p Delegate -p Slice -p KillMode -p Wants -p After"
        ).stdout
        assert "ActiveState=active" in unit
        assert "Delegate=yes" in unit
        assert "Slice=mesos.slice" in unit
        assert "KillMode=process" in unit
        assert re.search(r"^After=.*docker\.service", unit, re.M)
        env_file = host.file("/etc/mesos/agent.env")
    else:
        return
    assert env_file.mode == 0o600
    assert env_file.user == "root"
    # The wrappers say what they are: a protocol double, not Mesos.
    assert "PROTOCOL DOUBLE" in host.file("/usr/sbin/mesos-master").content_string
