"""Helpers every Molecule scenario's checks share (run by `molecule verify`, testinfra).

The checks look at the containers from OUTSIDE the roles: their addresses from the machine
running Molecule, `docker exec` for what only a container can tell, the collection's modules
run ad hoc and its playbooks run with ansible-playbook against the scenario's inventory.
pytest finds this module through `pythonpath` in pyproject.toml.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def _ansible_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)


def run_playbook(playbook: Path, *args: str, inventory: str | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-playbook against the scenario's inventory (or `inventory`); never raises on failure."""
    # stderr merged into stdout: under Molecule's ansible.cfg the failure messages go to stderr.
    return subprocess.run(
        ["ansible-playbook", "-i", inventory or molecule_inventory(), str(playbook), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_ansible_env(),
        cwd=str(REPO_ROOT),
        check=False,
    )


def run_module(host: str, module: str, args: dict) -> dict:
    """Run one of the collection's modules ad hoc on a container; returns its result."""
    out = subprocess.run(
        ["ansible", "-i", molecule_inventory(), host, "-m", module, "-a", json.dumps(args)],
        capture_output=True,
        text=True,
        env=_ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"),
        cwd=str(REPO_ROOT),
        check=False,
    )
    doc = json.loads(out.stdout)
    return doc["plays"][0]["tasks"][0]["hosts"][host]


def save_results(name: str, data: dict) -> Path:
    """Keep a measurement next to the scenario's inventory (Molecule's ephemeral directory)."""
    path = Path(molecule_inventory()).parent / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path
