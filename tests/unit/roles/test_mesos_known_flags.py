"""The roles' lists of Mesos flag names agree with the one source both copy: the double's tables.

roles/mesos_master/vars/main.yml and roles/mesos_agent/vars/main.yml list the flag names a
Mesos 1.11 master or agent knows (``_mesos_<role>_known_flags``); the preflights refuse any
other name in ``mesos_<role>_extra_flags``, because real Mesos silently ignores an unknown
``MESOS_*`` environment variable. The source of truth is the upstream flag definitions as the
Mesos protocol double tables them (names, deprecated aliases): ``src/master/flags.cpp``,
``src/slave/flags.cpp`` and ``src/logging/flags.cpp`` of apache/mesos, each table in the double
naming its file. A flag added to or dropped from the double's tables fails this test until the
role's list follows, and the other way round.

Only :func:`double_flag_specs` knows where the double keeps its tables: repoint it when the
double moves (for example into a ``doubles/mesos/`` package).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOUBLE = REPO / "doubles" / "mesos" / "mesos_double" / "flag_table.py"

# Flags every Mesos binary has that make it print something and exit (stout's --help, and
# --version which src/master/main.cpp and src/slave/main.cpp add): never a setting of a service,
# so the roles do not accept them in mesos_<role>_extra_flags.
NOT_SETTINGS = {"help", "version"}

ROLES = {"master": "mesos_master", "agent": "mesos_agent"}


def _load_double() -> ModuleType:
    """The double's flag tables (its package imported from doubles/mesos)."""
    if str(DOUBLE.parents[1]) not in sys.path:
        sys.path.insert(0, str(DOUBLE.parents[1]))
    return importlib.import_module("mesos_double.flag_table")


def double_flag_specs(personality: str) -> list[Any]:
    """Every flag the double's ``personality`` ("master" or "agent") loads, with ``.name``/``.alias``.

    The double's ``flag_specs`` adds the logging flags (src/logging/flags.cpp) and ``help`` to the
    master or agent table.
    """
    return list(_load_double().flag_specs(personality))


def source_names(personality: str) -> set[str]:
    """Flag names and deprecated aliases the double accepts, minus the print-and-exit flags."""
    names: set[str] = set()
    for spec in double_flag_specs(personality):
        names.add(spec.name)
        if spec.alias:
            names.add(spec.alias)
    return names - NOT_SETTINGS


def role_vars(role: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("personality", sorted(ROLES))
def test_the_source_is_found(personality: str) -> None:
    names = source_names(personality)
    # Sanity of the source itself: the role's own flags and a deprecated alias are in it.
    assert {"work_dir", "log_dir", "hostname", "port", "logging_level"} <= names
    assert ("slave_ping_timeout" if personality == "master" else "slave_subsystems") in names


@pytest.mark.parametrize("personality", sorted(ROLES))
def test_the_role_lists_exactly_the_flags_of_the_source(personality: str) -> None:
    role = ROLES[personality]
    listed = role_vars(role)[f"_{role}_known_flags"]
    expected = source_names(personality)
    missing = sorted(expected - set(listed))
    unknown = sorted(set(listed) - expected)
    assert not missing and not unknown, (
        f"roles/{role}/vars/main.yml _{role}_known_flags disagrees with {DOUBLE.relative_to(REPO)}: "
        f"add {missing}, remove {unknown}"
    )


@pytest.mark.parametrize("personality", sorted(ROLES))
def test_the_role_list_is_sorted_without_duplicates(personality: str) -> None:
    role = ROLES[personality]
    listed = role_vars(role)[f"_{role}_known_flags"]
    assert listed == sorted(set(listed)), f"keep _{role}_known_flags sorted and without duplicates"


@pytest.mark.parametrize("personality", sorted(ROLES))
def test_the_flags_the_role_sets_itself_are_known(personality: str) -> None:
    role = ROLES[personality]
    text = role_vars(role)[f"_{role}_role_flags"]
    set_by_role = set(re.findall(r"'([a-z0-9_]+)':", text))
    assert {"work_dir", "log_dir", "hostname", "port", "advertise_ip"} <= set_by_role, text
    assert set_by_role <= source_names(personality), sorted(set_by_role - source_names(personality))
