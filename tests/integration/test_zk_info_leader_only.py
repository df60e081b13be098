"""zk_info given only the leader's address (issue 20, item 4): the leader reports its synced
followers, so the quorum is healthy, and the members not asked are named. Read-only: runs on the
session ensemble of tests/conftest.py, through ansible-playbook."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble

PLAYBOOK = pathlib.Path(__file__).parent / "playbooks" / "zk_info.yml"


def zk_info(hosts: str) -> dict:
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    command = str(playbook) if playbook.exists() else shutil.which("ansible-playbook") or "ansible-playbook"
    with tempfile.TemporaryDirectory(prefix="zk-info-") as tmp:
        result_file = pathlib.Path(tmp, "result.json")
        extra = {"zk_hosts": hosts, "zk_timeout": 3, "zk_result_file": str(result_file)}
        extra["ansible_python_interpreter"] = sys.executable
        vars_file = pathlib.Path(tmp, "vars.json")
        vars_file.write_text(json.dumps(extra), encoding="utf-8")
        cmd = [command, "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-e", f"@{vars_file}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if not result_file.exists():
            raise AssertionError(f"no result (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return json.loads(result_file.read_text(encoding="utf-8"))


def test_the_leaders_address_alone_reports_a_healthy_quorum(zk_ensemble: ZkEnsemble) -> None:
    leader = zk_ensemble.leader()
    result = zk_info(leader.hostport)
    assert not result.get("failed"), result.get("msg")
    assert result["quorum_healthy"] is True, result
    assert result["leader"] == leader.hostport and result["quorum_size"] == 3
    others = sorted(m.myid for m in zk_ensemble.members if m is not leader)
    assert [line.split("=", 1)[0] for line in result["not_asked"]] == [f"server.{i}" for i in others]
    every = zk_info(zk_ensemble.connect_string)
    assert every["quorum_healthy"] is True and every["not_asked"] == []
