"""ZooKeeper helpers of the lab scenario's checks (run by `molecule verify`).

Everything here looks at the lab's ensemble from OUTSIDE the role: four-letter words and a kazoo
client from the machine running Molecule to the containers' addresses, `docker exec` for
what only the container can tell (processes, mounts), and ansible-playbook runs.
"""

from __future__ import annotations

import socket

from lab_inventory import ZOOKEEPERS as MEMBERS
from scenario_helpers import REPO_ROOT, docker_exec

CLIENT_PORT = 2181
PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper.yml"
ROLLING_PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper_rolling_restart.yml"


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
