"""The marathon role's lists of flag names agree with the one source they copy: the double's table.

roles/marathon/vars/main.yml lists the flags of Marathon 1.10 (``_marathon_known_flags``), its
toggles (``_marathon_toggle_flags``: true renders ``--<name>``, false ``--disable_<name>``) and
its integer flags (``_marathon_int_flags``). The preflight refuses any other name in
``marathon_extra_flags`` and checks the values by these lists, because Marathon refuses an
unknown option or a bad number at start (exit 112) and an instance would then restart in a loop.
The source of truth is the upstream flag definitions (MarathonConf.scala, HttpConf.scala,
ZookeeperConf.scala, LeaderProxyConf.scala) as the Marathon protocol double tables them in
``doubles/marathon/marathon_double/flags.py``. A flag added to or dropped from the double's table
fails this test until the role's lists follow, and the other way round.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOUBLE = REPO / "doubles" / "marathon" / "marathon_double" / "flags.py"
ROLE_VARS = REPO / "roles" / "marathon" / "vars" / "main.yml"

# Scallop's print-and-exit options: never a setting of a service.
NOT_SETTINGS = {"help", "version"}


def double_specs() -> list[Any]:
    """Every flag spec of the double (``.name``, ``.kind``), from its package in doubles/marathon."""
    if str(DOUBLE.parents[1]) not in sys.path:
        sys.path.insert(0, str(DOUBLE.parents[1]))
    return list(importlib.import_module("marathon_double.flags").SPECS.values())


def role_vars() -> dict[str, Any]:
    return yaml.safe_load(ROLE_VARS.read_text(encoding="utf-8"))


def names_of_kind(*kinds: str) -> set[str]:
    return {spec.name for spec in double_specs() if spec.kind in kinds} - NOT_SETTINGS


LISTS = {
    "_marathon_known_flags": ("str", "int", "long", "toggle", "bool"),
    "_marathon_toggle_flags": ("toggle",),
    "_marathon_int_flags": ("int", "long"),
}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_role_lists_exactly_the_flags_of_the_source(name: str) -> None:
    listed = role_vars()[name]
    expected = names_of_kind(*LISTS[name])
    missing = sorted(expected - set(listed))
    unknown = sorted(set(listed) - expected)
    assert not missing and not unknown, (
        f"{ROLE_VARS.relative_to(REPO)} {name} disagrees with {DOUBLE.relative_to(REPO)}: "
        f"add {missing}, remove {unknown}"
    )


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_role_list_is_sorted_without_duplicates(name: str) -> None:
    listed = role_vars()[name]
    assert listed == sorted(set(listed)), f"keep {name} sorted and without duplicates"


def test_the_flags_the_role_sets_itself_are_known_and_reserved() -> None:
    variables = role_vars()
    set_by_role = set(re.findall(r"'([a-z0-9_]+)':", variables["_marathon_role_flags"]))
    assert {"master", "zk", "hostname", "http_port", "framework_name"} <= set_by_role
    known = set(variables["_marathon_known_flags"])
    assert set_by_role <= known, sorted(set_by_role - known)
    # marathon_extra_flags may not set again what the role sets.
    reserved = set(variables["_marathon_reserved_flags"])
    assert set_by_role <= reserved, sorted(set_by_role - reserved)
    assert reserved <= known, sorted(reserved - known)
