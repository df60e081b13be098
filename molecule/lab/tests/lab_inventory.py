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


def group_hosts(group: str) -> tuple[str, ...]:
    return tuple(_load(INVENTORY_DIR / "hosts.yml")["all"]["children"][group]["hosts"])


def group_vars(group: str) -> dict[str, Any]:
    """The group's plain settings (values that are Jinja expressions are left as text)."""
    path = INVENTORY_DIR / "group_vars" / f"{group}.yml"
    return _load(path) if path.is_file() else {}


ZOOKEEPERS = group_hosts("zookeeper")
MASTERS = group_hosts("mesos_masters")
AGENTS = group_hosts("mesos_agents")
