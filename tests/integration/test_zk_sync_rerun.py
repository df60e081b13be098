"""zk_sync declares ``idempotent: full``: the same copy task run twice changes nothing the second
time, without extra options, while a target holding data the copy did not write is still
refused (issue 20, item 2). Through the module with ansible-playbook, between the session
ensemble of ``tests/conftest.py`` and a 1-member ensemble of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.zk_client import delete_recursive, kazoo_client
from kazoo.client import KazooClient


def run_module(args: dict, check: bool = False) -> dict:
    """The zk_sync module with ``args`` through ansible-playbook; the registered result."""
    extra = {"zk_sync_args": args}
    return run_playbook("zk_sync_module.yml", extra, check=check, result_var="result_file", timeout=600)


@pytest.fixture
def src(zk_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    with kazoo_client(zk_ensemble.connect_string, start_timeout=20) as client:
        yield client


@pytest.fixture
def tgt(other_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    with kazoo_client(other_ensemble.connect_string, start_timeout=20) as client:
        yield client


def test_the_same_copy_twice_is_not_changed_the_second_time(zk_ensemble, other_ensemble, src, tgt):
    delete_recursive(src, "/rerun")
    delete_recursive(tgt, "/rerun")
    src.create("/rerun/a/b", b"1", makepath=True)
    src.create("/rerun/seq", b"")
    for _i in range(3):
        src.create("/rerun/seq/job-", b"j", sequence=True)
    src.delete("/rerun/seq/job-0000000001")
    args = {
        "mode": "copy",
        "source": {"hosts": zk_ensemble.connect_string},
        "target": {"hosts": other_ensemble.connect_string},
        "paths": ["/rerun"],
    }
    first = run_module(args)
    assert first["failed"] is False and first["changed"] is True, first
    mzxid = tgt.get("/rerun/a/b")[1].mzxid

    again = run_module(args)
    assert again["failed"] is False, again.get("msg")
    assert again["changed"] is False, again["copy"]
    checked = run_module(args, check=True)
    assert checked["failed"] is False and checked["changed"] is False, checked
    assert tgt.get("/rerun/a/b")[1].mzxid == mzxid, "the rerun wrote to the target"

    # data the copy did not write is still refused, and left alone
    tgt.set("/rerun/a/b", b"theirs")
    refused = run_module(args)
    assert refused["failed"] is True
    assert "already hold(s) data" in refused["msg"] and "/rerun/a/b data" in refused["msg"], refused["msg"]
    assert tgt.get("/rerun/a/b")[0] == b"theirs"
    tgt.set("/rerun/a/b", b"1")
    tgt.create("/rerun/theirs", b"t")
    refused = run_module(args)
    assert refused["failed"] is True and "/rerun/theirs extra" in refused["msg"], refused["msg"]
    assert tgt.exists("/rerun/theirs") is not None
