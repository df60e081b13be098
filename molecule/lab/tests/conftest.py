"""Fixtures of the lab scenario's checks, and their order.

The lab converges the whole platform once (playbooks/site.yml); every role's checks run on
that one topology. Checks that restart services (marked `disruptive`) run after all the
others, each putting the cluster back as it found it.
"""

from __future__ import annotations

import pytest
from lab_inventory import AGENTS, MASTERS, ZOOKEEPERS
from scenario_helpers import container_ip
from zk_checks import CLIENT_PORT


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "disruptive: restarts services; runs after every other check")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
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
