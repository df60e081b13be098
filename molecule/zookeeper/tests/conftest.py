"""Shared helpers of the zookeeper scenario's checks (run by `molecule verify`).

Everything here looks at the ensemble from OUTSIDE the role: four-letter words and a kazoo
client from the machine running Molecule to the containers' addresses, `docker exec` for
what only the container can tell (processes, mounts), and ansible-playbook runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

MEMBERS = ("zookeeper-zk1", "zookeeper-zk2", "zookeeper-zk3")
CLIENT_PORT = 2181
REPO_ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper.yml"
ROLLING_PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper_rolling_restart.yml"


def container_ip(name: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"{name} has no address"
    return out[0]


def four_letter_word(ip: str, word: str, timeout: float = 1.0) -> str:
    """Send a 4lw and return the answer; raises OSError when the port is closed."""
    with socket.create_connection((ip, CLIENT_PORT), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def mode_of(ip: str, timeout: float = 1.0) -> str:
    """leader/follower/observer/standalone, 'not-serving' (answers without a mode), 'down' (port
    closed: the process is not running) or 'no-answer' (timed out: busy, not necessarily down)."""
    try:
        answer = four_letter_word(ip, "srvr", timeout)
    except ConnectionRefusedError:
        return "down"
    except OSError:
        return "no-answer"
    for line in answer.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "not-serving"


def docker_exec(name: str, command: str) -> str:
    return subprocess.run(
        ["docker", "exec", name, "sh", "-c", command], check=True, capture_output=True, text=True
    ).stdout


def run_playbook(playbook: Path, inventory: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    # stderr merged into stdout: under Molecule's ansible.cfg the failure messages go to stderr.
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, str(playbook), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        check=False,
    )


def molecule_inventory() -> str:
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert ephemeral, "run through `molecule verify` (MOLECULE_EPHEMERAL_DIRECTORY is not set)"
    return str(Path(ephemeral) / "inventory")


def results_file(name: str) -> Path:
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / name


def save_results(name: str, data: dict) -> Path:
    path = results_file(name)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


def state_snapshot() -> dict[str, str]:
    """What a run that changes nothing must leave alone: files the role manages and the JVM."""
    snap = {}
    for name in MEMBERS:
        snap[name] = docker_exec(
            name,
            "md5sum /etc/zookeeper/platform/zoo.cfg /var/lib/zookeeper/data/myid "
            "/etc/systemd/system/zookeeper.service; systemctl show -p MainPID -p ExecMainStartTimestamp zookeeper",
        )
    return snap


@pytest.fixture(scope="session")
def ips() -> dict[str, str]:
    return {name: container_ip(name) for name in MEMBERS}


@pytest.fixture(scope="session")
def connect_string(ips: dict[str, str]) -> str:
    return ",".join(f"{ip}:{CLIENT_PORT}" for ip in ips.values())
