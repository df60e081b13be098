"""Render Jinja expressions through Ansible's own templating, in a fresh interpreter.

test_hosts.py runs this file as a subprocess: Ansible resolves ``orchestrator.platform.*``
filters only when its collection loader is installed before anything imports
``ansible_collections``, which pytest's conftests have already done in the test process.

stdin: ``{"inventory": path, "jobs": [{"host", "defaults", "vars", "expression"}, ...]}``;
every string of ``defaults`` and ``vars`` is a template, as in a role's or a play's files.
Variables of a job, lowest precedence first: ``defaults``, the host's inventory variables and
magic variables (``hostvars``, ``groups``, ...), ``vars``. stdout: the rendered values, as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates any string: nothing to mark as trusted

    def trust_as_template(value: str) -> str:
        return value


def _trusted(value: Any) -> Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def main() -> None:
    init_plugin_loader()  # before anything imports ansible_collections

    request = json.load(sys.stdin)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[request["inventory"]])
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)
    results = []
    for job in request["jobs"]:
        context = variable_manager.get_vars(host=inventory.get_host(job["host"]))
        variables = {**_trusted(job.get("defaults", {})), **context, **_trusted(job.get("vars", {}))}
        templar = Templar(loader=loader, variables=variables)
        results.append(templar.template(_trusted(job["expression"])))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
