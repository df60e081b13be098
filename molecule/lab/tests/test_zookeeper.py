"""The lab's converged ZooKeeper ensemble, checked from outside the zookeeper role."""

from __future__ import annotations

import re
import uuid

import pytest
from kazoo.client import KazooClient
from scenario_helpers import docker_exec
from zk_checks import MEMBERS, four_letter_word, mode_of


def test_one_leader_two_followers(zk_ips):
    modes = sorted(mode_of(ip) for ip in zk_ips.values())
    assert modes == ["follower", "follower", "leader"], modes


def test_znode_written_on_one_member_is_read_on_the_others(zk_ips):
    path = f"/molecule-verify-{uuid.uuid4().hex}"
    value = uuid.uuid4().bytes
    names = list(zk_ips)
    writer = KazooClient(hosts=f"{zk_ips[names[0]]}:2181", timeout=10)
    writer.start(timeout=15)
    try:
        writer.create(path, value)
        for name in names[1:]:
            reader = KazooClient(hosts=f"{zk_ips[name]}:2181", timeout=10)
            reader.start(timeout=15)
            try:
                reader.sync(path)
                data, _unused = reader.get(path)
                assert data == value, name
            finally:
                reader.stop()
                reader.close()
    finally:
        writer.delete(path)
        writer.stop()
        writer.close()


def test_myid_matches_the_server_line_and_the_running_server(zk_ips):
    seen = set()
    for name, ip in zk_ips.items():
        myid = int(docker_exec(name, "cat /var/lib/zookeeper/data/myid").strip())
        config = docker_exec(name, "cat /etc/zookeeper/platform/zoo.cfg")
        line = re.search(rf"^server\.{myid}=([^:]+):", config, re.M)
        assert line and line.group(1) == name, (name, myid)
        # The running server says which id it uses (conf 4lw): the file was read.
        conf = four_letter_word(ip, "conf")
        assert re.search(rf"^serverId={myid}$", conf, re.M), conf
        seen.add(myid)
    assert len(seen) == len(MEMBERS)


def test_server_lines_identical_on_every_member():
    lines = {
        name: sorted(
            line
            for line in docker_exec(name, "cat /etc/zookeeper/platform/zoo.cfg").splitlines()
            if line.startswith("server.")
        )
        for name in MEMBERS
    }
    assert len({tuple(v) for v in lines.values()}) == 1, lines


def test_ruok_alone_is_not_trusted_but_answers(zk_ips):
    for ip in zk_ips.values():
        assert four_letter_word(ip, "ruok") == "imok"


def _listening_ports(name: str) -> set[str]:
    """Local address:port of every listening TCP socket in the container."""
    return {line.split()[3] for line in docker_exec(name, "ss -ltnH").splitlines() if line.strip()}


@pytest.mark.parametrize("name", MEMBERS)
def test_unit_runs_as_dedicated_user_with_hardening(name):
    unit = docker_exec(
        name,
        "systemctl show zookeeper -p ActiveState -p User -p NoNewPrivileges -p ProtectSystem "
        "-p ProtectHome -p PrivateTmp -p LimitNOFILE -p FragmentPath -p MainPID",
    )
    props = dict(line.split("=", 1) for line in unit.strip().splitlines())
    assert props["ActiveState"] == "active"
    assert props["FragmentPath"] == "/etc/systemd/system/zookeeper.service"  # native unit, not the LSB script
    assert props["User"] == "zookeeper"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert int(props["LimitNOFILE"]) >= 65536
    pid = props["MainPID"]
    # What the JVM really gets (systemd drops mount sandboxing silently where it cannot apply it).
    assert docker_exec(name, f"ps -o user= -p {pid}").strip() == "zookeeper"
    assert "NoNewPrivs:\t1" in docker_exec(name, f"cat /proc/{pid}/status")
    mounts = docker_exec(name, f"cat /proc/{pid}/mountinfo").splitlines()
    root = next(line for line in mounts if line.split()[4] == "/")
    assert " ro," in f" {root.split()[5]},", root
    data = [line for line in mounts if line.split()[4] == "/var/lib/zookeeper/data"]
    assert data and data[-1].split()[5].startswith("rw"), data
    assert any(line.split()[4] == "/tmp" for line in mounts), "PrivateTmp not applied"
    status = docker_exec(name, "dpkg-query -W -f='${db:Status-Status}' zookeeperd 2>/dev/null", check=False)
    assert status != "installed", "the LSB-script package zookeeperd is installed"


@pytest.mark.parametrize("name", MEMBERS)
def test_server_logs(name):
    assert docker_exec(name, "stat -c %U /var/log/zookeeper/zookeeper.log").strip() == "zookeeper"
    assert "QuorumPeer" in docker_exec(name, "cat /var/log/zookeeper/zookeeper.log")
    # The whole journal of the unit, not its last lines: the monitoring's 4lw polls (exporter
    # mntr, blackbox ruok/srvr) log one INFO line each and fill the tail.
    assert "QuorumPeer" in docker_exec(name, "journalctl -u zookeeper --no-pager -o cat")


@pytest.mark.parametrize("name", MEMBERS)
def test_admin_server_off_and_8080_free(name):
    ports = {address.rsplit(":", 1)[1] for address in _listening_ports(name)}
    assert "8080" not in ports, ports
    assert "2181" in ports, ports
