"""zk_node state=absent recursive=true on a tree of long paths (issue 20, item 3).

Delete batches were cut at 1,000 operations only; 1,000 deletes of 1.2 kB paths make a request
over jute.maxbuffer, which the server answers by dropping the connection ("connection to
ZooKeeper lost"). Run through ansible-playbook on the session ensemble of tests/conftest.py.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

PLAYBOOK = pathlib.Path(__file__).parent / "playbooks" / "zk_node.yml"


def zk_node(hosts: str, **options: object) -> dict:
    """The zk_node module through ansible-playbook; its registered result (failed or not)."""
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    command = str(playbook) if playbook.exists() else shutil.which("ansible-playbook") or "ansible-playbook"
    with tempfile.TemporaryDirectory(prefix="zk-long-") as tmp:
        result_file = pathlib.Path(tmp, "result.json")
        extra = {"zk_hosts": hosts, "zk_result_file": str(result_file), "ansible_python_interpreter": sys.executable}
        extra.update({f"zk_{k}": v for k, v in options.items()})
        vars_file = pathlib.Path(tmp, "vars.json")
        vars_file.write_text(json.dumps(extra), encoding="utf-8")
        cmd = [command, "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-e", f"@{vars_file}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if not result_file.exists():
            raise AssertionError(f"no result (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return json.loads(result_file.read_text(encoding="utf-8"))


@pytest.fixture
def zk(zk_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    c = KazooClient(hosts=zk_ensemble.connect_string, timeout=10)
    c.start(timeout=20)
    yield c
    c.stop()
    c.close()


@pytest.fixture
def base(zk: KazooClient) -> Iterator[str]:
    path = f"/long-{uuid.uuid4().hex[:10]}"
    yield path
    try:
        zk.delete(path, recursive=True)
    except NoNodeError:
        pass


def test_recursive_delete_of_long_paths_fits_jute_maxbuffer(zk_ensemble, zk, base):
    zk.create(base, b"")
    names = [f"{i:04d}-" + "n" * 1200 for i in range(1000)]  # 1000 deletes: about 1.23 MB in one multi
    for start in range(0, len(names), 200):
        txn = zk.transaction()
        for name in names[start : start + 200]:
            txn.create(f"{base}/{name}", b"x")
        assert not any(isinstance(r, Exception) for r in txn.commit())
    assert len(zk.get_children(base)) == 1000

    result = zk_node(zk_ensemble.connect_string, path=base, state="absent", recursive=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and len(result["deleted"]) == 1001
    assert zk.exists(base) is None


def test_one_path_too_large_alone_is_named_and_nothing_is_deleted(zk_ensemble, zk, base):
    zk.create(f"{base}/short", b"", makepath=True)
    zk.create(f"{base}/" + "z" * 3000, b"")
    result = zk_node(zk_ensemble.connect_string, path=base, state="absent", recursive=True, max_value_size=2048)
    assert result.get("failed") is True
    assert "alone needs a request of" in result["msg"] and "max_value_size 2048" in result["msg"], result["msg"]
    assert sorted(len(c) for c in zk.get_children(base)) == [5, 3000], "something was deleted"
