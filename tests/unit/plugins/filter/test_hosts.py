"""Unit tests of plugins/filter/hosts.py, and proof that the roles render as with their old loops.

The first half calls the filters directly. The second half renders the roles' private vars, the
zk_sync playbook's connect strings and the lab verify's host lists through Ansible's own
templating (a real inventory, ``hostvars``, role defaults and vars loaded from the files) and
compares every value with what the hand-written Jinja loops they replaced render (kept below,
verbatim, as ``OLD_*``).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible.release import __version__ as ansible_version
from jinja2 import Undefined

try:
    _internal: ModuleType | None = importlib.import_module("ansible.module_utils._internal")
except ImportError:  # ansible-core < 2.18
    _internal = None

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def hosts() -> Iterator[ModuleType]:
    """plugins/filter/hosts.py, imported for this file's tests only, never at collection time.

    It is controller code: importing it (through ansible.errors) sets ansible-core's
    process-wide ``module_utils._internal.is_controller``, after which ``AnsibleModule.warn()``
    in the module tests that run in this same pytest process no longer lands in the module's
    result. The flag and the two functions installed with it are put back afterwards.
    """
    names = ("is_controller", "get_controller_serialize_map", "import_controller_module")
    names = tuple(name for name in names if hasattr(_internal, name))  # ansible-core 2.19 has them
    saved = {name: getattr(_internal, name) for name in names}
    try:
        yield importlib.import_module("ansible_collections.orchestrator.platform.plugins.filter.hosts")
    finally:
        for name, value in saved.items():
            setattr(_internal, name, value)


# ------------------------------------------------------------------------------------------
# the filters, called directly (plain dicts stand in for hostvars)
# ------------------------------------------------------------------------------------------

HOSTVARS: dict[str, dict[str, Any]] = {
    "a": {"ansible_host": "10.0.0.1", "svc_address": "a.example", "svc_port": 6000},
    "b": {"ansible_host": "10.0.0.2"},
    "c": {},
    "d": {"svc_address": None, "svc_port": "7000", "flag": "yes"},
    "e": {"svc_address": Undefined(name="missing"), "ansible_host": "10.0.0.5", "flag": Undefined(name="x")},
    # What ansible-core < 2.19's hostvars give for a template naming a missing variable.
    "f": {"svc_address": "{{ missing_var }}", "ansible_host": "10.0.0.6", "flag": "{% if missing_var %}"},
}


def test_filters_are_registered(hosts: ModuleType) -> None:
    assert set(hosts.FilterModule().filters()) == {"host_ports", "zk_connect_string", "host_map", "hosts_where"}


def test_every_filter_has_its_documentation_file(hosts: ModuleType) -> None:
    for name in hosts.FilterModule().filters():
        doc = yaml.safe_load((REPO / "plugins" / "filter" / f"{name}.yml").read_text(encoding="utf-8"))
        assert doc["DOCUMENTATION"]["name"] == name
        assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def test_address_is_address_var_then_ansible_host_then_name(hosts: ModuleType) -> None:
    assert hosts.host_map(["a", "b", "c"], HOSTVARS, "svc_address") == {"a": "a.example", "b": "10.0.0.2", "c": "c"}
    assert hosts.host_map(["a", "b", "c"], HOSTVARS) == {"a": "10.0.0.1", "b": "10.0.0.2", "c": "c"}


def test_a_set_but_null_address_is_kept_as_default_does(hosts: ModuleType) -> None:
    # `hostvars[h].svc_address | default(...)` replaces only an undefined value, not None.
    assert hosts.host_ports(["d"], 1, HOSTVARS, "svc_address") == ["None:1"]


def test_an_undefined_value_counts_as_not_set(hosts: ModuleType) -> None:
    assert hosts.host_ports(["e"], 2181, HOSTVARS, "svc_address") == ["10.0.0.5:2181"]
    assert hosts.hosts_where(["e"], HOSTVARS, "flag") == []
    assert hosts.host_ports(["f"], 2181, HOSTVARS, "svc_address") == ["10.0.0.6:2181"]
    assert hosts.hosts_where(["f"], HOSTVARS, "flag") == []


def test_a_host_unknown_to_hostvars_is_its_name(hosts: ModuleType) -> None:
    assert hosts.host_ports(["zz"], 1, HOSTVARS, "svc_address") == ["zz:1"]


def test_host_ports_keeps_the_order_and_takes_the_per_host_port(hosts: ModuleType) -> None:
    names = ["d", "c", "a", "b"]
    assert hosts.host_ports(names, 5050, HOSTVARS, "svc_address", port_var="svc_port") == [
        "None:7000",
        "c:5050",
        "a.example:6000",
        "10.0.0.2:5050",
    ]
    assert hosts.host_ports(names, 5050, HOSTVARS, "svc_address") == [
        "None:5050",
        "c:5050",
        "a.example:5050",
        "10.0.0.2:5050",
    ]


def test_without_hostvars_the_names_are_the_addresses(hosts: ModuleType) -> None:
    assert hosts.host_ports(["a", "b"], "2181") == ["a:2181", "b:2181"]
    assert hosts.zk_connect_string(["a", "b"], 2181) == "a:2181,b:2181"


def test_zk_connect_string(hosts: ModuleType) -> None:
    assert hosts.zk_connect_string(["a", "b", "c"], 2181, HOSTVARS, "svc_address") == (
        "a.example:2181,10.0.0.2:2181,c:2181"
    )
    assert hosts.zk_connect_string([], 2181, HOSTVARS, "svc_address") == ""


def test_host_map_with_a_port(hosts: ModuleType) -> None:
    assert hosts.host_map(["a", "c"], HOSTVARS, "svc_address", port=5050, port_var="svc_port") == {
        "a": "a.example:6000",
        "c": "c:5050",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("yes", True), ("True", True), (1, True), ("on", True), (False, False), ("no", False), ("0", False)],
)
def test_hosts_where_reads_values_as_the_bool_filter(hosts: ModuleType, value: Any, expected: bool) -> None:
    assert hosts.hosts_where(["a", "b"], {"a": {"flag": value}, "b": {}}, "flag") == (["a"] if expected else [])


@pytest.mark.parametrize("bad", ["zk1,zk2", {"zk1": {}}, 3, None])
def test_a_non_list_input_is_an_error(hosts: ModuleType, bad: Any) -> None:
    with pytest.raises(hosts.AnsibleFilterError, match="expects a list of inventory host names"):
        hosts.host_ports(bad, 2181)


# ------------------------------------------------------------------------------------------
# the roles and playbooks, rendered through Ansible against the loops the filters replaced
# ------------------------------------------------------------------------------------------

# Each tricky case the loops handled: an address variable, ansible_host only, nothing, a
# templated value, a template naming a missing variable (counts as unset), per-host ports
# (int and str), observers given as true/"yes"/"False"/a broken template.
INVENTORY = {
    "all": {
        "hosts": {"ctl": {}},
        "children": {
            "zookeeper": {
                "hosts": {
                    "zk1": {"ansible_host": "10.0.0.1", "zookeeper_myid": 7},
                    "zk2": {"zookeeper_address": "zk2.example", "zookeeper_observer": "yes"},
                    "zk3": {"zookeeper_address": "{{ missing_var }}", "zookeeper_observer": "{{ missing_var }}"},
                    "zk4": {"zookeeper_observer": True, "ansible_host": "10.0.0.4"},
                    "zk5": {"zookeeper_observer": False, "zookeeper_address": "{{ inventory_hostname }}.internal"},
                    "zk6": {"zookeeper_observer": "False", "ansible_host": "{{ '10.0.0.' ~ 6 }}"},
                }
            },
            "zookeeper_old": {"hosts": {"old1": {"ansible_host": "10.1.0.1", "zookeeper_address": "x"}, "old2": {}}},
            "mesos_masters": {
                "hosts": {
                    "m1": {"mesos_master_hostname": "m1.example", "mesos_master_port": 5555},
                    "m2": {"ansible_host": "10.2.0.2", "mesos_master_port": "{{ missing_var }}"},
                    "m3": {},
                    "m4": {"mesos_master_port": "6000", "ansible_host": "10.2.0.4", "zookeeper_address": "nope"},
                }
            },
            "mesos_agents": {
                "hosts": {
                    "a1": {"mesos_agent_hostname": "a1.example"},
                    "a2": {"ansible_host": "10.3.0.2"},
                    "a3": {"mesos_master_hostname": "x"},
                }
            },
        },
    }
}

# The loops as they were in the roles (verbatim).
OLD_ROLE_VARS: dict[str, dict[str, str]] = {
    "zookeeper": {
        "_zookeeper_address_map": (
            "{% set m = {} %}{% for h in _zookeeper_members %}{% set _ = m.update({h: hostvars[h].zookeeper_address"
            " | default(hostvars[h].ansible_host | default(h))}) %}{% endfor %}{{ m }}"
        ),
        "_zookeeper_observers": (
            "{% set o = [] %}{% for h in _zookeeper_members if hostvars[h].zookeeper_observer | default(false) | bool"
            " %}{% set _ = o.append(h) %}{% endfor %}{{ o }}"
        ),
        "_zookeeper_connect": (
            "{{ _zookeeper_members | map('extract', _zookeeper_address_map)"
            " | map('regex_replace', '$', ':' ~ zookeeper_client_port) | join(',') }}"
        ),
    },
    "mesos_master": {
        "_mesos_master_hostport_map": (
            "{% set m = {} %}{% for h in _mesos_master_members %}{% set _ = m.update({h: ("
            "hostvars[h].mesos_master_hostname | default(hostvars[h].ansible_host | default(h))) ~ ':' ~ ("
            "hostvars[h].mesos_master_port | default(mesos_master_port))}) %}{% endfor %}{{ m }}"
        ),
        "_mesos_master_zk_hosts": (
            "{% set l = [] %}{% for h in _mesos_master_zk_members %}{% set _ = l.append((hostvars[h].zookeeper_address"
            " | default(hostvars[h].ansible_host | default(h))) ~ ':' ~ mesos_master_zookeeper_port) %}{% endfor %}"
            "{{ l | join(',') }}"
        ),
    },
    "mesos_agent": {
        "_mesos_agent_master_hostports": (
            "{% set l = [] %}{% for h in _mesos_agent_master_members %}{% set _ = l.append(("
            "hostvars[h].mesos_master_hostname | default(hostvars[h].ansible_host | default(h))) ~ ':' ~ ("
            "hostvars[h].mesos_master_port | default(mesos_agent_master_port))) %}{% endfor %}{{ l }}"
        ),
        "_mesos_agent_hostname_map": (
            "{% set m = {} %}{% for h in _mesos_agent_members %}{% set _ = m.update({h: "
            "hostvars[h].mesos_agent_hostname | default(hostvars[h].ansible_host | default(h))}) %}{% endfor %}{{ m }}"
        ),
        "_mesos_agent_zk_hosts": (
            "{% set l = [] %}{% for h in _mesos_agent_zk_members %}{% set _ = l.append((hostvars[h].zookeeper_address"
            " | default(hostvars[h].ansible_host | default(h))) ~ ':' ~ mesos_agent_zookeeper_port) %}{% endfor %}"
            "{{ l | join(',') }}"
        ),
    },
}
# Values derived from the replaced ones: they must not change either.
DERIVED = {
    "zookeeper": ["_zookeeper_participants"],
    "mesos_master": ["_mesos_master_hostports", "_mesos_master_zk_url"],
    "mesos_agent": ["_mesos_agent_zk_url"],
}

OLD_ZK_SYNC_VARS = {
    name: "{% for h in groups[" + group + "] | default([]) %}{{ hostvars[h].ansible_host | default(h) }}:{{ _port }}"
    "{{ '' if loop.last else ',' }}{% endfor %}"
    for name, group in (("_src_hosts", "_src_group"), ("_tgt_hosts", "_tgt_group"))
}

OLD_VERIFY = {
    "zk_hosts": (
        "{{ groups['zookeeper'] | map('regex_replace', '$', ':' ~ (zookeeper_client_port | default(2181)))"
        " | join(',') }}"
    ),
    "masters": (
        "{{ groups['mesos_masters'] | map('regex_replace', '$', ':' ~ (mesos_master_port | default(5050))) | list }}"
    ),
}


def _load(relative: str) -> Any:
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))


def _jobs() -> dict[str, dict[str, Any]]:
    """Every value to compare, by name: a job rendering the new text and one rendering the old."""
    jobs: dict[str, dict[str, Any]] = {}
    # ctl has no variables of its own; m1 sets mesos_master_port, the fallback of the others.
    for host in ("ctl", "m1"):
        for role, old_texts in OLD_ROLE_VARS.items():
            # Precedence as in a play: role defaults < the host's inventory vars < role vars.
            defaults = _load(f"roles/{role}/defaults/main.yml")
            role_vars = _load(f"roles/{role}/vars/main.yml")
            for name in old_texts:
                assert "{% for" not in role_vars[name], f"{role} {name} still loops"
            old_vars = {**role_vars, **old_texts}
            for name in list(old_texts) + DERIVED[role]:
                expression = "{{ " + name + " }}"
                jobs[f"{host} {role} {name}"] = {
                    "new": {"host": host, "defaults": defaults, "vars": role_vars, "expression": expression},
                    "old": {"host": host, "defaults": defaults, "vars": old_vars, "expression": expression},
                }
    play_vars = _load("playbooks/zk_sync.yml")[0]["vars"]
    for name, old_text in OLD_ZK_SYNC_VARS.items():
        jobs[f"zk_sync {name}"] = {
            "new": {"host": "ctl", "vars": play_vars, "expression": play_vars[name]},
            "old": {"host": "ctl", "vars": play_vars, "expression": old_text},
        }
    plays = _load("molecule/lab/smoke.yml")
    verify = {
        "zk_info hosts": (plays[0]["tasks"][0]["orchestrator.platform.zk_info"]["hosts"], OLD_VERIFY["zk_hosts"]),
        "lab_zk_hosts": (plays[1]["vars"]["lab_zk_hosts"], OLD_VERIFY["zk_hosts"]),
        "masters": (plays[1]["tasks"][0]["orchestrator.platform.mesos_master_info"]["masters"], OLD_VERIFY["masters"]),
    }
    for host, overrides in (("ctl", {}), ("m1", {"zookeeper_client_port": 2999})):
        for name, (new_text, old_text) in verify.items():
            jobs[f"verify {host} {name}"] = {
                "new": {"host": host, "vars": overrides, "expression": new_text},
                "old": {"host": host, "vars": overrides, "expression": old_text},
            }
    return jobs


JOBS = _jobs()


def _without_missing_var(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_missing_var(value) for key, value in node.items() if value != "{{ missing_var }}"}
    return node


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    """name -> (new value, old value), rendered by Ansible in one subprocess.

    ansible-core < 2.19 rendered a template naming a missing variable unrendered in some of the
    old loops and as unset in others, so there is no one old value to compare with: on those
    releases the inventory leaves those values out (the filters treat them as unset on every
    release, see test_an_undefined_value_counts_as_not_set).
    """
    inventory_data = INVENTORY
    if tuple(int(part) for part in ansible_version.split(".")[:2]) < (2, 19):
        inventory_data = _without_missing_var(INVENTORY)
    inventory = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    inventory.write_text(yaml.safe_dump(inventory_data), encoding="utf-8")
    flat = [job for pair in JOBS.values() for job in (pair["new"], pair["old"])]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ansible_render.py"))],
        input=json.dumps({"inventory": str(inventory), "jobs": flat}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = json.loads(proc.stdout)
    return {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(JOBS)}


@pytest.mark.parametrize("name", list(JOBS))
def test_renders_as_the_old_loop(rendered: dict[str, tuple[Any, Any]], name: str) -> None:
    new, old = rendered[name]
    assert new == old
    assert old  # the inventory gives every value something to show


def test_the_comparison_sees_the_tricky_cases(rendered: dict[str, tuple[Any, Any]]) -> None:
    """A few values spelled out, so that a renderer that renders nothing cannot pass."""
    assert rendered["ctl zookeeper _zookeeper_address_map"][0] == {
        "zk1": "10.0.0.1",
        "zk2": "zk2.example",
        "zk3": "zk3",
        "zk4": "10.0.0.4",
        "zk5": "zk5.internal",
        "zk6": "10.0.0.6",
    }
    assert rendered["ctl zookeeper _zookeeper_observers"][0] == ["zk2", "zk4"]
    assert rendered["ctl mesos_agent _mesos_agent_master_hostports"][0] == [
        "m1.example:5555",
        "10.2.0.2:5050",
        "m3:5050",
        "10.2.0.4:6000",
    ]
    assert rendered["m1 mesos_master _mesos_master_hostports"][0] == [
        "m1.example:5555",
        "10.2.0.2:5555",
        "m3:5555",
        "10.2.0.4:6000",
    ]
    assert rendered["zk_sync _src_hosts"][0] == "10.1.0.1:2181,old2:2181"
    assert rendered["verify m1 lab_zk_hosts"][0] == "zk1:2999,zk2:2999,zk3:2999,zk4:2999,zk5:2999,zk6:2999"
