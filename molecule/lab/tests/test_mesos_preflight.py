"""Bad input: refused by the preflight, naming the variable, before anything changes."""

from __future__ import annotations

import json
import re

import pytest
from mesos_checks import PLAYBOOK, state_snapshot
from scenario_helpers import changed_counts, run_playbook

CASES = [
    pytest.param(
        ["-e", "mesos_master_quorum=1"],
        "mesos_master_quorum=1 is not valid for 3 master(s)",
        id="quorum-not-above-half",
    ),
    pytest.param(
        ["-e", "mesos_agent_master_group=no_such_group", "--limit", "mesos_agents"],
        "mesos_agent_master_group='no_such_group' has no hosts",
        id="empty-master-group",
    ),
    pytest.param(
        [
            "-e",
            json.dumps({"mesos_agent_isolation": ["cgroups/cpu", "cgroups/mem", "cgroups/memory"]}),
            "--limit",
            "mesos_agents",
        ],
        "mesos_agent_isolation names isolator(s) the Mesos containerizer does not have: cgroups/memory",
        id="unknown-isolator",
    ),
    pytest.param(
        ["-e", json.dumps({"mesos_agent_resources": "cpus:1;mem=512"}), "--limit", "mesos_agents"],
        "mesos_agent_resources='cpus:1;mem=512' does not parse",
        id="resources-do-not-parse",
    ),
    pytest.param(
        ["-e", json.dumps({"mesos_master_extra_flags": {"zk_sesion_timeout": "10secs"}})],
        "mesos_master_extra_flags names flag(s) that Mesos masters do not have: zk_sesion_timeout",
        id="unknown-master-flag",
    ),
    pytest.param(
        ["-e", "mesos_agent_cgroups_hierarchy=/sys/fs/cgroup/unified", "--limit", "mesos_agents"],
        "is a cgroup v2 (unified) hierarchy",
        id="cgroups-isolators-on-cgroup-v2",
    ),
    pytest.param(
        [
            "-e",
            json.dumps(
                {
                    "mesos_common_install_source": "tarball",
                    "mesos_common_tarball_url": "file:///etc/debian_version",
                    "mesos_common_tarball_checksum": "sha256:" + "0" * 64,
                }
            ),
        ],
        "does not match\nmesos_common_tarball_checksum=sha256:" + "0" * 64,
        id="tarball-checksum-mismatch",
    ),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_bad_input_fails_naming_the_variable_and_changes_nothing(args, message):
    before = state_snapshot()
    result = run_playbook(PLAYBOOK, *args)
    print(result.stdout[-3000:])
    assert result.returncode != 0
    flat = re.sub(r"\s+", " ", result.stdout)
    assert re.sub(r"\s+", " ", message) in flat
    assert set(changed_counts(result.stdout).values()) <= {0}
    assert state_snapshot() == before
