"""ansible-playbook and ad hoc modules, run as users run them: the venv's binaries, no colours.

- ``run_playbook``: one of tests/integration/playbooks (or any playbook written the same way)
  on localhost with this interpreter; the playbook writes the module's registered result to the
  file named by an extra var, which is returned as a dict.
- ``ansible_playbook``: a playbook against an inventory (a scenario's, ``container,``...); the
  finished process, never raises on failure.
- ``run_module``: one module ad hoc on one host, its result read from the json callback.
- ``run_role_play``: a play of a role against a YAML inventory, all written into a work
  directory (the role template tests run one phase of a role this way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGRATION_PLAYBOOKS = REPO_ROOT / "tests" / "integration" / "playbooks"

# Options and variables that run a play or a module on this machine with this interpreter
# (its kazoo, its collection path), not with the system's python3.
LOCAL = ("-c", "local", "-e", f"ansible_python_interpreter={sys.executable}")
# Quiet about the implicit inventory of localhost runs.
LOCALHOST_ENV = {"ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"}


def ansible_bin(name: str = "ansible-playbook") -> str:
    """The venv's ``ansible-playbook`` (or ``ansible``...): beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `. tools/env` first")
    return found


def ansible_env(**extra: str) -> dict[str, str]:
    """This process's environment without colours in Ansible's output, plus ``extra``."""
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)


def ansible_playbook(
    playbook: str | Path,
    *args: str,
    inventory: str,
    env: dict[str, str] | None = None,
    cwd: str | Path = REPO_ROOT,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook -i inventory playbook args...``; stderr merged into stdout; never raises on failure."""
    # stderr merged: under Molecule's ansible.cfg the failure messages go to stderr.
    return subprocess.run(
        [ansible_bin(), "-i", inventory, str(playbook), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env if env is not None else ansible_env(),
        cwd=str(cwd),
        timeout=timeout,
        check=False,
    )


def run_playbook(
    playbook: str | Path,
    extra_vars: dict,
    *,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    result_var: str = "zk_result_file",
    timeout: float = 300,
) -> dict:
    """Run ``playbook`` (a path, or a name in tests/integration/playbooks) on localhost; the module's result.

    The playbook writes the registered result (failed or not: it rescues or ignores the
    failure, so that the test can check how the module failed) to the file named by the extra
    var ``result_var``. The result also carries ``_stdout`` (what ansible-playbook printed).
    The play itself must succeed.
    """
    path = Path(playbook)
    if not path.is_absolute():
        path = INTEGRATION_PLAYBOOKS / path
    with tempfile.TemporaryDirectory(prefix="zk-it-") as tmp:
        result_file = Path(tmp, "result.json")
        vars_file = Path(tmp, "vars.json")
        vars_file.write_text(json.dumps({**extra_vars, result_var: str(result_file)}), encoding="utf-8")
        args = [*LOCAL, "-e", f"@{vars_file}"]
        if check:
            args.append("--check")
        if diff:
            args.append("--diff")
        if verbosity:
            args.append("-" + "v" * verbosity)
        env = ansible_env(**LOCALHOST_ENV, ANSIBLE_RETRY_FILES_ENABLED="false")
        proc = ansible_playbook(path, *args, inventory="localhost,", env=env, timeout=timeout)
        if proc.returncode != 0 or not result_file.exists():
            raise AssertionError(f"ansible-playbook {path.name} failed (rc={proc.returncode}):\n{proc.stdout[-8000:]}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    result["_stdout"] = proc.stdout
    return result


def run_module(
    host: str, module: str, args: dict, *, inventory: str, options: tuple[str, ...] = (), timeout: float | None = None
) -> dict:
    """``ansible -i inventory host -m module -a args`` (``options`` before ``-m``); the host's result.

    A module that fails still returns its result (``failed`` set); output that is not the json
    callback's document fails the test with what ansible printed.
    """
    proc = subprocess.run(
        [ansible_bin("ansible"), "-i", inventory, host, *options, "-m", module, "-a", json.dumps(args)],
        capture_output=True,
        text=True,
        env=ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"),
        cwd=str(REPO_ROOT),
        timeout=timeout,
        check=False,
    )
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"ansible {host} -m {module} printed no json (rc={proc.returncode}):\n{output}") from None
    return doc["plays"][0]["tasks"][0]["hosts"][host]


def run_local_play(
    workdir: Path, text: str, variables: dict, *args: str, inventory_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The play ``text`` run on localhost (connection local) with ``variables`` as extra vars,
    both written into ``workdir``, against ``inventory_text`` (an INI inventory) or localhost
    alone; never raises on failure."""
    play = workdir / "play.yml"
    play.write_text(text, encoding="utf-8")
    vars_file = workdir / "vars.json"
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    inventory = "localhost,"
    if inventory_text is not None:
        inventory = str(workdir / "inventory.ini")
        Path(inventory).write_text(inventory_text, encoding="utf-8")
    return ansible_playbook(
        play, *LOCAL, "-e", f"@{vars_file}", *args, inventory=inventory, env=ansible_env(**LOCALHOST_ENV)
    )


def run_role_play(
    workdir: Path,
    play: str,
    inventory: dict[str, Any],
    variables: dict[str, Any],
    *args: str,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """The play ``play`` (its text) run against ``inventory`` (a YAML inventory's content) with
    ``variables`` as extra vars, written into ``workdir`` as play.yml, inventory.yml and
    vars.json; ``args`` follow (``--tags``, ``--check``...). Never raises on failure."""
    (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (workdir / "play.yml").write_text(play)
    (workdir / "vars.json").write_text(json.dumps(variables))
    return ansible_playbook(
        workdir / "play.yml",
        *args,
        "-e",
        f"@{workdir / 'vars.json'}",
        inventory=str(workdir / "inventory.yml"),
        env=ansible_env(**LOCALHOST_ENV, ANSIBLE_RETRY_FILES_ENABLED="false"),
        timeout=timeout,
    )


_RENDER_ROLE_TEMPLATE = """
- name: Render one template of a role with the role's defaults and vars
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load the role's defaults and vars
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop: "{{ render_files }}"
    - name: Render
      ansible.builtin.template:
        src: "{{ render_src }}"
        dest: "{{ render_dest }}"
        mode: "0600"
"""


def render_role_template(
    role: Path, template: str, workdir: Path, variables: dict | None = None, inventory_text: str | None = None
) -> Path:
    """``role``/templates/``template`` rendered by ansible-playbook with the role's defaults and
    vars (``variables`` win, as extra vars do) into ``workdir``; the rendered file."""
    dest = workdir / template.removesuffix(".j2")
    render = {
        "render_files": [str(role / "defaults" / "main.yml"), str(role / "vars" / "main.yml")],
        "render_src": str(role / "templates" / template),
        "render_dest": str(dest),
    }
    proc = run_local_play(
        workdir, _RENDER_ROLE_TEMPLATE, {**render, **(variables or {})}, inventory_text=inventory_text
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    return dest
