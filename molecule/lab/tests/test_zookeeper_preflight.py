"""Preflight and check mode against the running ensemble: refused or dry runs change nothing."""

from __future__ import annotations

from pathlib import Path

import yaml
from lab_inventory import group_vars
from scenario_helpers import changed_counts, run_playbook
from zk_checks import MEMBERS, PLAYBOOK, state_snapshot

ZK1, ZK2, ZK3 = MEMBERS


def _inventory(tmp_path: Path, hosts: dict[str, dict]) -> str:
    """An inventory of the scenario's containers (docker connection) with per-host vars."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
            "children": {"zookeeper": {"hosts": hosts, "vars": group_vars("zookeeper")}},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))  # keep the given host order
    return str(path)


def test_duplicate_myid_fails_naming_the_hosts_and_changes_nothing(tmp_path):
    before = state_snapshot()
    inventory = _inventory(tmp_path, {ZK1: {"zookeeper_myid": 2}, ZK2: {"zookeeper_myid": 2}, ZK3: {}})
    result = run_playbook(PLAYBOOK, inventory=inventory)
    print(result.stdout[-3000:])
    assert result.returncode != 0
    assert f"Duplicate server ids: id 2 on {ZK1}, {ZK2}" in result.stdout
    assert set(changed_counts(result.stdout).values()) == {0}
    assert state_snapshot() == before


def test_even_ensemble_without_acknowledgement_fails_and_changes_nothing(tmp_path):
    before = state_snapshot()
    inventory = _inventory(tmp_path, {ZK1: {}, ZK2: {}})
    result = run_playbook(PLAYBOOK, inventory=inventory)
    print(result.stdout[-3000:])
    assert result.returncode != 0
    assert f"has 2 voting members ({ZK1}, {ZK2})" in result.stdout
    assert "tolerates no more failures than one fewer" in result.stdout
    assert set(changed_counts(result.stdout).values()) == {0}
    assert state_snapshot() == before


def test_reordered_inventory_keeps_ids_check_mode_reports_no_change(tmp_path):
    """Ids come from the myid files, not the inventory order: a reversed inventory changes nothing."""
    before = state_snapshot()
    inventory = _inventory(tmp_path, {name: {} for name in reversed(MEMBERS)})
    result = run_playbook(PLAYBOOK, "--check", "--diff", inventory=inventory)
    print(result.stdout[-2000:])
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(changed_counts(result.stdout).values()) == {0}
    assert state_snapshot() == before


def test_check_mode_shows_the_diff_and_restarts_nothing(tmp_path):
    before = state_snapshot()
    inventory = _inventory(tmp_path, {name: {} for name in MEMBERS})
    result = run_playbook(PLAYBOOK, "--check", "--diff", "-e", "zookeeper_tick_time=2345", inventory=inventory)
    print(result.stdout[-2000:])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "+tickTime=2345" in result.stdout
    assert all(count > 0 for count in changed_counts(result.stdout).values())
    assert state_snapshot() == before


def test_host_listed_twice_fails_naming_both_names_and_changes_nothing(tmp_path):
    before = state_snapshot()
    hosts = {name: {} for name in MEMBERS}
    hosts["zk1-alias"] = {"ansible_host": ZK1}
    result = run_playbook(PLAYBOOK, inventory=_inventory(tmp_path, hosts))
    print(result.stdout[-3000:])
    assert result.returncode != 0
    assert f"Host listed twice (same address): {ZK1} is {ZK1}, zk1-alias" in result.stdout
    assert set(changed_counts(result.stdout).values()) == {0}
    assert state_snapshot() == before
