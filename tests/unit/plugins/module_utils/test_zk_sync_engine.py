"""Unit tests of the copy's check mode (issue 20): the copy walk writes through a
CountingWriter, which counts what a Writer would send and sends (and reads) nothing."""

from __future__ import annotations

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import build_config
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import Pair, SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import Node
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_writes import CountingWriter, Op

WORLD = (("world", "anyone", 31),)


def _node(path: str, data: bytes = b"x", acl: tuple = WORLD, cversion: int = 0) -> Node:
    return Node(path, data, (1, 1, 0, 0, 0, cversion, 0, 0, len(data), 0, 1), acl, [])


class _NoIO:
    """Stands in for the target's sessions: any write or bulk read fails the test."""

    client = None

    def submit(self, *_a, **_k):
        pytest.fail("check mode sent a write")

    def fetch(self, *_a, **_k):
        pytest.fail("check mode listed a subtree to delete")

    def close(self) -> None:
        """Nothing was opened."""


@pytest.fixture
def engine():
    engine = SyncEngine(build_config({"paths": ["/t"]}), {"hosts": "h1:2181"}, {"hosts": "h2:2181"})
    pairs = [
        Pair("/t", "/t", _node("/t", cversion=4), _node("/t", cversion=4)),
        Pair("/t/new", "/t/new", _node("/t/new", cversion=4), None),  # created, then its counter
        Pair("/t/data", "/t/data", _node("/t/data", b"new"), _node("/t/data", b"old")),
        Pair("/t/acl", "/t/acl", _node("/t/acl", acl=(("world", "anyone", 1),)), _node("/t/acl")),
        Pair("/t/extra", "/t/extra", None, _node("/t/extra")),  # a subtree only the target has
    ]
    engine.walk = lambda **_k: iter([pairs])
    engine.tgt = _NoIO()
    try:
        yield engine
    finally:
        engine.close()


def test_check_mode_counts_what_the_copy_would_write_and_writes_nothing(engine):
    writer = CountingWriter()
    result = engine._copy_pass(writer, [])
    assert dict(writer.counts) == {"create": 1, "set": 1, "acl": 1, "delete_tree": 1, "filler": 1}
    assert {k: result[k] for k in ("created", "data_updated", "acl_updated", "deleted", "cversion_fixed")} == {
        "created": 1,
        "data_updated": 1,
        "acl_updated": 1,
        "deleted": 1,
        "cversion_fixed": 1,
    }
    assert result["changed"] is True and result["nodes"] == 4


def test_a_dry_run_copy_reports_the_pass_and_keeps_nothing_to_undo(engine):
    result = engine.copy(dry_run=True)
    assert result["created"] == 1 and result["deleted"] == 1 and result["changed"] is True
    assert engine._created_parents == []


def test_the_counting_writer_counts_op_kinds():
    writer = CountingWriter()
    for op in (Op("create", "/a", b""), Op("filler", "/a", pairs=3), Op("filler", "/b", pairs=1)):
        writer.add(op)
    writer.delete_tree("/c")
    writer.flush()
    writer.drain()
    assert dict(writer.counts) == {"create": 1, "filler": 2, "delete_tree": 1}
