"""Run the integration playbooks with ansible-playbook, as users do, and read back the module result."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

PLAYBOOKS = pathlib.Path(__file__).parent / "playbooks"


def ansible_playbook() -> str:
    beside = pathlib.Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found: run `. tools/env` first")
    return found


def run_playbook(
    playbook: str, extra_vars: dict, *, check: bool = False, diff: bool = False, verbosity: int = 0
) -> dict:
    """Run ``playbooks/<playbook>`` on localhost; return the module's registered result.

    The result also carries ``_stdout`` (what ansible-playbook printed). The play itself must
    succeed (the playbooks rescue a failing module so the test can check how it failed).
    """
    with tempfile.TemporaryDirectory(prefix="zk-it-") as tmp:
        result_file = pathlib.Path(tmp, "result.json")
        vars_file = pathlib.Path(tmp, "vars.json")
        vars_file.write_text(
            json.dumps(
                {**extra_vars, "zk_result_file": str(result_file), "ansible_python_interpreter": sys.executable}
            ),
            encoding="utf-8",
        )
        cmd = [ansible_playbook(), "-i", "localhost,", "-c", "local", str(PLAYBOOKS / playbook), "-e", f"@{vars_file}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
        if proc.returncode != 0 or not result_file.exists():
            output = f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            raise AssertionError(f"ansible-playbook {playbook} failed (rc={proc.returncode}):\n{output}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    result["_stdout"] = proc.stdout + proc.stderr
    return result
