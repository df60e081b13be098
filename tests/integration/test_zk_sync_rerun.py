"""zk_sync declares ``idempotent: full``: the same copy task run twice changes nothing the second
time, without extra options, while a target holding data the copy did not write is still
refused (issue 20, item 2). Through the module with ansible-playbook, between the session
ensemble of ``tests/conftest.py`` and a 1-member ensemble of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "zk_sync_module.yml")


def run_module(args: dict, check: bool = False) -> dict:
    """The zk_sync module with ``args`` through ansible-playbook; the registered result."""
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zk_sync_rerun_{os.getpid()}_{time.monotonic_ns()}.json")
    cmd = ["ansible-playbook", PLAYBOOK, "-e", json.dumps({"zk_sync_args": args, "result_file": out})]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    try:
        with open(out, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise AssertionError(f"playbook wrote no result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from None
    finally:
        if os.path.exists(out):
            os.unlink(out)


@pytest.fixture(scope="module")
def other_ensemble() -> Iterator[ZkEnsemble]:
    ens = ZkEnsemble(size=1, name="zkrerun")
    try:
        ens.start(timeout=float(os.environ.get("ZK_TEST_START_TIMEOUT", "60")))
        yield ens
    finally:
        ens.stop()


def _client(hosts: str) -> Iterator[KazooClient]:
    c = KazooClient(hosts=hosts, timeout=10)
    c.start(timeout=20)
    yield c
    c.stop()
    c.close()


@pytest.fixture
def src(zk_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    yield from _client(zk_ensemble.connect_string)


@pytest.fixture
def tgt(other_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    yield from _client(other_ensemble.connect_string)


def _wipe(c: KazooClient, path: str) -> None:
    try:
        c.delete(path, recursive=True)
    except NoNodeError:
        pass


def test_the_same_copy_twice_is_not_changed_the_second_time(zk_ensemble, other_ensemble, src, tgt):
    _wipe(src, "/rerun")
    _wipe(tgt, "/rerun")
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
