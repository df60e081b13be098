"""Shared helpers of the zk_sync scenario's checks (run by `molecule verify`).

Both ensembles are read from OUTSIDE the role and the engine: a kazoo client on the machine
running Molecule connects to each container's address (the source `zk_sync-old`, the target
`zk_sync-new`); the metrics endpoint is scraped over HTTP the same way; `docker exec` tells
what only the container knows (the unit, the process); playbooks/zk_sync.yml is run with
ansible-playbook against the scenario's inventory, its results read as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from scenario_helpers import REPO_ROOT, container_ip, docker_exec, molecule_inventory

SOURCE = "zk_sync-old"
TARGET = "zk_sync-new"
MIRROR_HOST = "zk_sync-new"
CLIENT_PORT = 2181
METRICS_PORT = 9745
PATHS = ("/mesos", "/marathon")
HEARTBEAT = "/mesos/zk_sync_heartbeat"
STOP_MARKER = "/zk_sync_stop"
PLAYBOOK = REPO_ROOT / "playbooks" / "zk_sync.yml"
# A change on the source must be on the target within this many seconds.
MIRROR_DEADLINE_S = 5.0


def node_data(client: KazooClient, path: str) -> bytes | None:
    """The node's data, or None when it does not exist."""
    try:
        return client.get(path)[0]
    except NoNodeError:
        return None


def scrape_metrics(ip: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(f"http://{ip}:{METRICS_PORT}/metrics", timeout=timeout) as resp:
        assert resp.status == 200
        return resp.read().decode()


def unit_properties(*names: str) -> dict[str, str]:
    out = docker_exec(MIRROR_HOST, "systemctl show zk-sync " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.strip().splitlines())


def run_playbook_json(*args: str) -> tuple[int, dict, str]:
    """playbooks/zk_sync.yml against the scenario's inventory with the json callback:
    (return code, the json document, stderr)."""
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="json",
    )
    out = subprocess.run(
        ["ansible-playbook", "-i", molecule_inventory(), str(PLAYBOOK), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        check=False,
    )
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook {' '.join(args)} printed no json (rc {out.returncode}): {out.stderr[-3000:]}")
    return out.returncode, doc, out.stderr


def task_results(doc: dict, name: str) -> list[dict]:
    """The per-host results of every task whose name ends with `name`."""
    return [
        result
        for play in doc["plays"]
        for task in play["tasks"]
        if task["task"]["name"].endswith(name)
        for result in task["hosts"].values()
    ]


def changed_counts(doc: dict) -> dict[str, int]:
    return {host: stats["changed"] for host, stats in doc["stats"].items()}


def changed_tasks(doc: dict) -> list[str]:
    return [
        task["task"]["name"]
        for play in doc["plays"]
        for task in play["tasks"]
        if any(result.get("changed") for result in task["hosts"].values())
    ]


@pytest.fixture(scope="session")
def ips() -> dict[str, str]:
    return {name: container_ip(name) for name in (SOURCE, TARGET)}


def _client(ip: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=f"{ip}:{CLIENT_PORT}", timeout=10)
    client.start(timeout=30)
    try:
        yield client
    finally:
        client.stop()
        client.close()


@pytest.fixture(scope="session")
def source(ips: dict[str, str]) -> Iterator[KazooClient]:
    yield from _client(ips[SOURCE])


@pytest.fixture(scope="session")
def target(ips: dict[str, str]) -> Iterator[KazooClient]:
    yield from _client(ips[TARGET])


@pytest.fixture(scope="session")
def results() -> Iterator[dict]:
    """Numbers the checks measure, printed and saved at the end of the session."""
    data: dict = {}
    yield data
    path = Path(molecule_inventory()).parent / "zk_sync_results.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    print(f"\n=== zk_sync scenario numbers (saved to {path}) ===\n{json.dumps(data, indent=2, default=str)}")
