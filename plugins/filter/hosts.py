# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host lists and connect strings built from inventory groups (the roles' private vars).

Every filter takes a list of inventory names (``groups[...]``) and keeps its order. A host's
address is, when ``hostvars`` is given, its ``address_var`` (for example ``zookeeper_address``),
else its ``ansible_host``, else its inventory name; without ``hostvars`` it is the inventory
name. A variable that is missing, or whose template is undefined (it names a variable the host
does not have), counts as not set, as ``hostvars[h].var | default(...)`` treats it in Jinja.
Only the host's own inventory and fact variables are read: another host's role defaults are not
visible through ``hostvars``, which is why each role passes its own default port.

Each filter is documented in the ``<filter name>.yml`` file next to this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible.plugins.filter.core import to_bool
from jinja2 import Undefined

_NOT_SET = object()


def _host_var(hostvars: Mapping[str, Any] | None, host: str, var: str | None) -> Any:
    """``hostvars[host][var]`` templated, or _NOT_SET where Jinja's ``default()`` would apply."""
    if hostvars is None or var is None or host not in hostvars:
        return _NOT_SET
    host_vars = hostvars[host]
    if not isinstance(host_vars, Mapping) or var not in host_vars:
        return _NOT_SET
    try:
        value = host_vars[var]
    except AnsibleUndefinedVariable:
        return _NOT_SET
    # ansible-core 2.19 returns an undefined marker for a template naming a missing variable;
    # older releases (hostvars templated with fail_on_undefined=False) the template unrendered.
    if isinstance(value, Undefined) or (isinstance(value, str) and ("{{" in value or "{%" in value)):
        return _NOT_SET
    return value


def _first_set(*values: Any) -> Any:
    return next(value for value in values if value is not _NOT_SET)


def _names(hosts: Any, filter_name: str) -> list[str]:
    if isinstance(hosts, (str, bytes, Mapping)) or not isinstance(hosts, Iterable):
        raise AnsibleFilterError(f"{filter_name} expects a list of inventory host names, got {type(hosts).__name__}")
    return [str(host) for host in hosts]


def _address(host: str, hostvars: Mapping[str, Any] | None, address_var: str | None) -> Any:
    return _first_set(_host_var(hostvars, host, address_var), _host_var(hostvars, host, "ansible_host"), host)


def _host_port(
    host: str, port: Any, hostvars: Mapping[str, Any] | None, address_var: str | None, port_var: str | None
) -> str:
    return f"{_address(host, hostvars, address_var)}:{_first_set(_host_var(hostvars, host, port_var), port)}"


def host_ports(
    hosts: Any,
    port: Any,
    hostvars: Mapping[str, Any] | None = None,
    address_var: str | None = None,
    port_var: str | None = None,
) -> list[str]:
    """``["address:port", ...]`` in the order of ``hosts``; ``port_var`` overrides ``port`` per host."""
    return [_host_port(host, port, hostvars, address_var, port_var) for host in _names(hosts, "host_ports")]


def zk_connect_string(
    hosts: Any,
    port: Any,
    hostvars: Mapping[str, Any] | None = None,
    address_var: str | None = None,
    port_var: str | None = None,
) -> str:
    """A ZooKeeper connect string ``"address:port,address:port,..."`` (no chroot, no auth)."""
    names = _names(hosts, "zk_connect_string")
    return ",".join(_host_port(host, port, hostvars, address_var, port_var) for host in names)


def host_map(
    hosts: Any,
    hostvars: Mapping[str, Any] | None,
    address_var: str | None = None,
    port: Any = None,
    port_var: str | None = None,
) -> dict[str, Any]:
    """``{inventory name: address}``, or ``{inventory name: "address:port"}`` when ``port`` is given."""
    names = _names(hosts, "host_map")
    if port is None:
        return {host: _address(host, hostvars, address_var) for host in names}
    return {host: _host_port(host, port, hostvars, address_var, port_var) for host in names}


def hosts_where(hosts: Any, hostvars: Mapping[str, Any], var: str) -> list[str]:
    """The hosts whose ``var`` is true (as the ``bool`` filter reads it); a host without it is not."""
    names = _names(hosts, "hosts_where")
    return [host for host in names if to_bool(_first_set(_host_var(hostvars, host, var), False))]


class FilterModule:
    """Host lists and connect strings from inventory groups."""

    def filters(self) -> dict[str, Any]:
        return {
            "host_ports": host_ports,
            "zk_connect_string": zk_connect_string,
            "host_map": host_map,
            "hosts_where": hosts_where,
        }
