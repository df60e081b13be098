"""Helpers every Molecule scenario's checks share (run by `molecule verify`, testinfra).

The checks look at the containers from OUTSIDE the roles: their addresses from the machine
running Molecule, `docker exec` for what only a container can tell, the collection's modules
run ad hoc and its playbooks run with ansible-playbook against the scenario's inventory.
pytest finds this module through `pythonpath` in pyproject.toml.

What is not about Molecule (running Ansible, waiting, ports, ZooKeeper probes and clients)
lives in tests/support (``ansible_collections.orchestrator.platform.tests.support``), shared
with the tests and the benchmarks; this module binds it to the scenario being verified.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from ansible_collections.orchestrator.platform.tests.support import ansible_run
from ansible_collections.orchestrator.platform.tests.support.ansible_run import REPO_ROOT

__all__ = [
    "REPO_ROOT",
    "changed_counts",
    "container_ip",
    "docker_exec",
    "molecule_inventory",
    "run_module",
    "run_playbook",
    "save_results",
]


def container_ip(name: str) -> str:
    """The container's address on its (first) network."""
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"{name} has no address"
    return out[0]


def changed_counts(output: str) -> dict[str, int]:
    """``changed=`` of each host in the PLAY RECAP of an ansible-playbook run's output."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def docker_exec(name: str, command: str, check: bool = True) -> str:
    """Run a shell command in the container; its stdout."""
    return subprocess.run(
        ["docker", "exec", name, "sh", "-c", command], check=check, capture_output=True, text=True
    ).stdout


def molecule_inventory() -> str:
    """The inventory Molecule generated for the scenario being verified."""
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert ephemeral, "run through `molecule verify` (MOLECULE_EPHEMERAL_DIRECTORY is not set)"
    return str(Path(ephemeral) / "inventory")


def run_playbook(playbook: Path, *args: str, inventory: str | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-playbook against the scenario's inventory (or `inventory`); never raises on failure."""
    return ansible_run.ansible_playbook(playbook, *args, inventory=inventory or molecule_inventory())


def run_module(host: str, module: str, args: dict) -> dict:
    """Run one of the collection's modules ad hoc on a container; returns its result."""
    return ansible_run.run_module(host, module, args, inventory=molecule_inventory())


def save_results(name: str, data: dict) -> Path:
    """Keep a measurement next to the scenario's inventory (Molecule's ephemeral directory)."""
    path = Path(molecule_inventory()).parent / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path
