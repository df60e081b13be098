"""One source of truth for each zk_sync option's default (issue 20): the fields of SyncConfig.

The module's argument_spec reads them (option_default). What cannot import Python repeats
them and is held to them here: the module's DOCUMENTATION, the role's defaults and
argument_specs, the playbook's ``| default(...)`` fallbacks (which must also agree with the
role's defaults for the role's other settings), and the service's connection timeout.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import (
    DEFAULT_EXCLUDES,
    SERVICE_TIMEOUT,
    SyncConfig,
    build_config,
    option_default,
)
from ansible_collections.orchestrator.platform.plugins.modules import zk_sync as module

REPO = Path(__file__).resolve().parents[4]
FIELDS = {
    f.name
    for f in dataclasses.fields(SyncConfig)
    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
}


def _yaml(relative: str) -> dict:
    return yaml.safe_load((REPO / relative).read_text())


def _module_options() -> dict:
    return yaml.safe_load(module.DOCUMENTATION)["options"]


def _option_names() -> list[str]:
    """The module's options that are engine settings with a default."""
    return sorted(name for name, spec in module.argument_spec().items() if name in FIELDS and "default" in spec)


def test_the_module_options_with_defaults_are_found():
    assert {"batch_size", "drain_timeout", "excludes", "read_sessions"} <= set(_option_names())


@pytest.mark.parametrize("name", _option_names())
def test_the_module_argument_spec_takes_the_config_default(name):
    assert module.argument_spec()[name]["default"] == option_default(name)


@pytest.mark.parametrize("name", _option_names())
def test_the_module_documentation_states_the_config_default(name):
    assert _module_options()[name]["default"] == option_default(name)


@pytest.mark.parametrize("name", _option_names())
def test_an_option_left_out_takes_the_config_default(name):
    assert getattr(build_config({"paths": ["/a"]}), name) == option_default(name)


def test_the_role_defaults_and_argument_specs_state_the_config_defaults():
    defaults = _yaml("roles/zk_sync/defaults/main.yml")
    specs = _yaml("roles/zk_sync/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    shared = sorted(n for n in FIELDS if f"zk_sync_{n}" in defaults)
    assert {"drain_timeout", "excludes", "read_sessions"} <= set(shared)
    for name in shared:
        assert defaults[f"zk_sync_{name}"] == option_default(name), name
        assert specs[f"zk_sync_{name}"]["default"] == option_default(name), name
    assert tuple(defaults["zk_sync_excludes"]) == DEFAULT_EXCLUDES


def test_the_playbook_fallbacks_state_the_config_and_role_defaults():
    playbook = (REPO / "playbooks/zk_sync.yml").read_text()
    defaults = _yaml("roles/zk_sync/defaults/main.yml")
    fallbacks = re.findall(r"\bzk_sync_(\w+) \| default\(([^()]*)\)", playbook)
    checked = []
    for name, literal in fallbacks:
        if literal == "omit":
            continue
        value = yaml.safe_load(literal)
        if name in FIELDS:
            assert value == option_default(name), (name, literal)
            checked.append(name)
        if f"zk_sync_{name}" in defaults and name not in ("source", "target"):
            assert value == defaults[f"zk_sync_{name}"], (name, literal)
            checked.append(name)
    assert "drain_timeout" in checked, fallbacks


def test_the_service_connection_timeout_is_the_engine_fallback():
    assert _yaml("roles/zk_sync/vars/main.yml")["_zk_sync_connection_defaults"]["timeout"] == SERVICE_TIMEOUT
