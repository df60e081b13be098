"""Fixtures of the lab scenario's checks, and their order.

The lab converges the whole platform once (playbooks/site.yml); every role's checks run on
that one topology. Checks that restart services (marked `disruptive`) run after all the
others, each putting the cluster back as it found it.
"""

from __future__ import annotations

import os

import pytest
from lab_inventory import AGENTS, MASTERS, ZOOKEEPERS
from scenario_helpers import container_ip
from zk_checks import CLIENT_PORT


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "disruptive: restarts services; runs after every other check")
    config.addinivalue_line(
        "markers",
        "monitoring: needs playbooks/monitoring.yml converged on the lab, which site.yml does not run yet; "
        "runs only with ORCH_LAB_MONITORING=1 (docs/lab.md)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The monitoring checks are left out of `molecule test` until monitoring.yml is back in
    # site.yml (its converge cost the suite nine minutes): deselected, never counted as passed.
    if os.environ.get("ORCH_LAB_MONITORING") != "1":
        left_out = [item for item in items if item.get_closest_marker("monitoring") is not None]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if item.get_closest_marker("monitoring") is None]
    # A stable sort: files keep their order within each group.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def zk_ips() -> dict[str, str]:
    return {name: container_ip(name) for name in ZOOKEEPERS}


@pytest.fixture(scope="session")
def zk_connect_string(zk_ips: dict[str, str]) -> str:
    return ",".join(f"{ip}:{CLIENT_PORT}" for ip in zk_ips.values())


@pytest.fixture(scope="session")
def mesos_ips() -> dict[str, str]:
    return {name: container_ip(name) for name in MASTERS + AGENTS}
