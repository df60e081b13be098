"""Mesos helpers of the lab scenario's checks (run by `molecule verify`).

Everything here looks at the cluster from OUTSIDE the roles: HTTP from the machine running
Molecule to the containers' addresses (the masters' and agents' own endpoints), `docker exec`
for what only the container can tell (processes, units, the Docker engine), the collection's
modules run ad hoc, and ansible-playbook runs of the collection's playbooks.

Mesos here is the project's PROTOCOL DOUBLE (doubles/mesos), not Apache Mesos.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from lab_inventory import AGENTS, MASTERS
from scenario_helpers import REPO_ROOT, docker_exec

MASTER_PORT = 5050
AGENT_PORT = 5051
PLAYBOOK = REPO_ROOT / "playbooks" / "mesos.yml"
UPGRADE_PLAYBOOK = REPO_ROOT / "playbooks" / "mesos_rolling_upgrade.yml"
REFUSED = -1
NO_ANSWER = -2


def http_json(url: str, timeout: float = 2.0):
    """GET a JSON document; no redirects are followed (the double's redirects name hosts this
    machine cannot resolve). Returns (status, body or None)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        # REFUSED: nothing listens (the process is down); NO_ANSWER: busy or slow, not necessarily down.
        return (REFUSED if isinstance(reason, ConnectionError) else NO_ANSWER), None
    except (http.client.HTTPException, ValueError):
        # A master stopped in the middle of its answer (IncompleteRead) or answered garbage.
        return NO_ANSWER, None


def elected_masters(ips: dict[str, str]) -> list[str]:
    leaders = []
    for name in MASTERS:
        status, metrics = http_json(f"http://{ips[name]}:{MASTER_PORT}/metrics/snapshot")
        if status == 200 and metrics and metrics.get("master/elected") == 1:
            leaders.append(name)
    return leaders


def leader_state(ips: dict[str, str]) -> dict:
    leaders = elected_masters(ips)
    assert len(leaders) == 1, leaders
    status, state = http_json(f"http://{ips[leaders[0]]}:{MASTER_PORT}/master/state")
    assert status == 200, status
    return state


def agents_by_hostname(ips: dict[str, str]) -> dict[str, dict]:
    return {agent["hostname"]: agent for agent in leader_state(ips)["slaves"]}


def state_snapshot() -> dict[str, str]:
    """What a refused run must leave alone: the files the roles manage and the processes."""
    snap = {}
    for name in MASTERS:
        snap[name] = docker_exec(
            name,
            "md5sum /etc/mesos/master.env /etc/systemd/system/mesos-master.service; "
            "systemctl show -p MainPID -p ExecMainStartTimestamp mesos-master",
        )
    for name in AGENTS:
        snap[name] = docker_exec(
            name,
            "md5sum /etc/mesos/agent.env /etc/systemd/system/mesos-agent.service /etc/docker/daemon.json; "
            "readlink /var/lib/mesos/agent/meta/slaves/latest; "
            "systemctl show -p MainPID -p ExecMainStartTimestamp mesos-agent docker",
        )
    return snap
