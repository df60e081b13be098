"""The lab's hosts and settings, read from the lab inventory the scenario converges.

The checks name no container and no setting of their own: they read inventories/lab, so a
host or a setting changed there is checked as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from scenario_helpers import REPO_ROOT

INVENTORY_DIR = REPO_ROOT / "inventories" / "lab"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _hosts_under(group: dict) -> list[str]:
    """The hosts of an inventory group and of its child groups, each once, in file order."""
    names = list((group.get("hosts") or {}).keys())
    for child in (group.get("children") or {}).values():
        names += [name for name in _hosts_under(child or {}) if name not in names]
    return names


def _find_group(group: dict, name: str) -> dict | None:
    for child_name, child in (group.get("children") or {}).items():
        if child_name == name:
            return child or {}
        found = _find_group(child or {}, name)
        if found is not None:
            return found
    return None


def group_hosts(group: str) -> tuple[str, ...]:
    """The hosts of ``group`` (at any depth of the inventory) and of its children."""
    found = _find_group(_load(INVENTORY_DIR / "hosts.yml")["all"], group)
    assert found is not None, f"inventories/lab/hosts.yml has no group {group}"
    return tuple(_hosts_under(found))


def all_hosts() -> tuple[str, ...]:
    """Every host of the lab inventory."""
    return tuple(_hosts_under(_load(INVENTORY_DIR / "hosts.yml")["all"]))


def group_vars(group: str) -> dict[str, Any]:
    """The group's plain settings (values that are Jinja expressions are left as text)."""
    path = INVENTORY_DIR / "group_vars" / f"{group}.yml"
    return _load(path) if path.is_file() else {}


ZOOKEEPERS = group_hosts("zookeeper")
MASTERS = group_hosts("mesos_masters")
AGENTS = group_hosts("mesos_agents")
