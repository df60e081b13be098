"""ZooKeeper helpers of the lab scenario's checks (run by `molecule verify`).

Everything here looks at the lab's ensemble from OUTSIDE the role: four-letter words and a kazoo
client from the machine running Molecule to the containers' addresses, `docker exec` for
what only the container can tell (processes, mounts), and ansible-playbook runs.
"""

from __future__ import annotations

from ansible_collections.orchestrator.platform.tests.support.zk_probe import four_letter, srvr_mode
from lab_inventory import ZOOKEEPERS as MEMBERS
from scenario_helpers import REPO_ROOT, docker_exec

CLIENT_PORT = 2181
PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper.yml"
ROLLING_PLAYBOOK = REPO_ROOT / "playbooks" / "zookeeper_rolling_restart.yml"


def four_letter_word(ip: str, word: str, timeout: float = 1.0) -> str:
    """Send a 4lw to a member's client port; raises OSError when the port is closed."""
    return four_letter(ip, CLIENT_PORT, word, timeout)


def mode_of(ip: str, timeout: float = 1.0) -> str:
    """leader/follower/observer/standalone, 'not-serving', 'down' (port closed) or 'no-answer'."""
    return srvr_mode(ip, CLIENT_PORT, timeout)


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
