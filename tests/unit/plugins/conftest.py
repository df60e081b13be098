"""Fixtures for the plugin unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import FourLetterServer, captured


@pytest.fixture
def fourlw() -> Iterator[Callable[[dict[str, str]], FourLetterServer]]:
    """Start canned 4lw servers answering with captured outputs; closed after the test."""
    servers: list[FourLetterServer] = []

    def make(kind: dict[str, str]) -> FourLetterServer:
        srv = FourLetterServer({cmd: captured(name) for cmd, name in kind.items()})
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()
