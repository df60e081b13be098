"""Recursive deletes are cut by bytes as well as by count (issue 20, item 3)."""

from __future__ import annotations

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from kazoo.protocol.serialization import Delete, Transaction


def _request_size(paths: list[str]) -> int:
    return _zk.REQUEST_HEADER_SIZE + len(Transaction([Delete(p, -1) for p in paths]).serialize())


def test_sizes_are_what_the_request_serializes_to():
    paths = ["/a", "/" + "é" * 300, "/x/" + "y" * 1000]
    assert _request_size(paths) == _zk.REQUEST_HEADER_SIZE + _zk.MULTI_END_SIZE + sum(map(_zk.delete_op_size, paths))


def test_long_paths_make_smaller_batches_each_under_the_limit():
    paths = [f"/long/{i:04d}-" + "n" * 1200 for i in range(1000)]
    batches = _zk.delete_batches(paths, 1048575)
    assert len(batches) > 1, "1000 paths of 1.2 kB do not fit in one 1 MB request"
    assert [p for b in batches for p in b] == paths  # the order (deepest first) is kept
    assert all(_request_size(b) <= 1048575 for b in batches)
    assert _request_size(batches[0] + [batches[1][0]]) > 1048575  # each batch as full as it can be


def test_short_paths_are_still_cut_by_count():
    paths = [f"/n{i}" for i in range(2500)]
    assert [len(b) for b in _zk.delete_batches(paths, 1048575)] == [1000, 1000, 500]


def test_one_path_too_large_alone_is_named_before_anything_is_deleted():
    with pytest.raises(_zk.ZkError, match=r"alone needs a request of \d+ bytes, more than max_value_size 4096"):
        _zk.delete_batches(["/short", "/" + "z" * 5000], 4096)
