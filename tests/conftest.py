"""Shared pytest fixtures: the loopback ZooKeeper ensemble and a kazoo client on it, and a
one-member ensemble that serves clients over TLS."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

try:
    from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
    from ansible_collections.orchestrator.platform.tests.fixtures.zk_tls import tls_member
    from ansible_collections.orchestrator.platform.tests.support.zk_client import kazoo_client
except ImportError as exc:  # pragma: no cover - environment problem, reported clearly
    raise pytest.UsageError(
        "cannot import ansible_collections.orchestrator.platform "
        f"({exc}): run `. tools/env` first (it links this checkout under ANSIBLE_COLLECTIONS_PATH "
        "and puts that on PYTHONPATH)"
    ) from exc


@pytest.fixture(scope="session")
def zk_ensemble() -> Iterator[ZkEnsemble]:
    """One 3-member ZooKeeper 3.8 ensemble on 127.0.0.1 for the whole test session.

    Tests that kill members must bring them back (``member.start()`` then
    ``zk_ensemble.wait_for_quorum()``) before they return.
    """
    ens = ZkEnsemble(size=3, name="zk")
    try:
        ens.start(timeout=float(os.environ.get("ZK_TEST_START_TIMEOUT", "60")))
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="module")
def other_ensemble(request: pytest.FixtureRequest) -> Iterator[ZkEnsemble]:
    """A 1-member ensemble of the test module's own, a second ensemble beside ``zk_ensemble``."""
    ens = ZkEnsemble(size=1, name=f"zk-{request.module.__name__.rsplit('.', 1)[-1]}")
    try:
        ens.start(timeout=float(os.environ.get("ZK_TEST_START_TIMEOUT", "60")))
        yield ens
    finally:
        ens.stop()


@pytest.fixture
def zk_client(zk_ensemble: ZkEnsemble) -> Iterator[object]:
    """A started kazoo client connected to the session ensemble; stopped and closed afterwards."""
    with kazoo_client(zk_ensemble.connect_string) as client:
        yield client


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], ZkEnsemble]]:
    """``(secure host:port, client certs, ensemble)`` of a member that demands a client certificate."""
    secure, certs, ens = tls_member(tmp_path_factory.mktemp("zk-tls"))
    try:
        yield secure, certs, ens
    finally:
        ens.stop()
