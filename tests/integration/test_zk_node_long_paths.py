"""zk_node state=absent recursive=true on a tree of long paths (issue 20, item 3).

Delete batches were cut at 1,000 operations only; 1,000 deletes of 1.2 kB paths make a request
over jute.maxbuffer, which the server answers by dropping the connection ("connection to
ZooKeeper lost"). Run through ansible-playbook on the session ensemble of tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.zk_client import delete_recursive
from kazoo.client import KazooClient


def zk_node(hosts: str, **options: object) -> dict:
    """The zk_node module through ansible-playbook; its registered result (failed or not)."""
    return run_playbook("zk_node.yml", {"zk_hosts": hosts, **{f"zk_{k}": v for k, v in options.items()}})


@pytest.fixture
def base(zk_client: KazooClient) -> Iterator[str]:
    path = f"/long-{uuid.uuid4().hex[:10]}"
    yield path
    delete_recursive(zk_client, path)


def test_recursive_delete_of_long_paths_fits_jute_maxbuffer(zk_ensemble, zk_client, base):
    zk_client.create(base, b"")
    names = [f"{i:04d}-" + "n" * 1200 for i in range(1000)]  # 1000 deletes: about 1.23 MB in one multi
    for start in range(0, len(names), 200):
        txn = zk_client.transaction()
        for name in names[start : start + 200]:
            txn.create(f"{base}/{name}", b"x")
        assert not any(isinstance(r, Exception) for r in txn.commit())
    assert len(zk_client.get_children(base)) == 1000

    result = zk_node(zk_ensemble.connect_string, path=base, state="absent", recursive=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and len(result["deleted"]) == 1001
    assert zk_client.exists(base) is None


def test_one_path_too_large_alone_is_named_and_nothing_is_deleted(zk_ensemble, zk_client, base):
    zk_client.create(f"{base}/short", b"", makepath=True)
    zk_client.create(f"{base}/" + "z" * 3000, b"")
    result = zk_node(zk_ensemble.connect_string, path=base, state="absent", recursive=True, max_value_size=2048)
    assert result.get("failed") is True
    assert "alone needs a request of" in result["msg"] and "max_value_size 2048" in result["msg"], result["msg"]
    assert sorted(len(c) for c in zk_client.get_children(base)) == [5, 3000], "something was deleted"
