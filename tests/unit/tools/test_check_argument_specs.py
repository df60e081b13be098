"""tools/check_argument_specs.py (the argument-specs gate) fails where a role's entry points and
what they read drift apart, and passes on this repository."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_argument_specs", REPO / "tools" / "check_argument_specs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


checker = _load_checker()

SPECS = """\
---
argument_specs:
  main:
    short_description: A role for the checker's tests
    options:
      demo_port: &demo_port
        type: int
        default: 80
        description: Port of the demo service, read through vars and a template.
      demo_name: &demo_name
        type: str
        default: demo
        description: Name of the demo service unit.
  restart.yml:
    short_description: Restart the demo service
    options:
      demo_name: *demo_name
      demo_port: *demo_port
      _demo_hosts:
        type: list
        elements: str
        required: true
        description: Hosts to restart, passed by the caller.
"""
FILES = {
    "defaults/main.yml": "---\ndemo_port: 80\ndemo_name: demo\n",
    "vars/main.yml": '---\n_demo_url: "http://localhost:{{ demo_port }}"\n',
    "templates/demo.conf.j2": "name={{ demo_name }}\n",
    "tasks/main.yml": "---\n- name: Configure\n  ansible.builtin.import_tasks: configure.yml\n",
    "tasks/configure.yml": textwrap.dedent(
        """\
        ---
        - name: Render
          ansible.builtin.template:
            src: demo.conf.j2
            dest: /etc/demo.conf
            mode: "0644"
          register: _demo_rendered
        """
    ),
    "tasks/restart.yml": textwrap.dedent(
        """\
        ---
        - name: Restart one host
          ansible.builtin.include_tasks: restart_one.yml
          loop: "{{ _demo_hosts }}"
          loop_control:
            loop_var: _demo_host
        """
    ),
    "tasks/restart_one.yml": textwrap.dedent(
        """\
        ---
        - name: Restart
          ansible.builtin.uri:
            url: "{{ _demo_url }}/restart?host={{ _demo_host }}"
          when: _demo_rendered is changed
        - name: Render again
          ansible.builtin.import_tasks: configure.yml
        """
    ),
}
PLAYBOOK = textwrap.dedent(
    """\
    ---
    - name: Restart
      hosts: all
      tasks:
        - name: Restart the demo
          ansible.builtin.include_role:
            name: orchestrator.platform.demo
            tasks_from: restart.yml
          vars:
            _demo_hosts: "{{ ansible_play_hosts }}"
    """
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    role = tmp_path / "roles" / "demo"
    for name, text in {"meta/argument_specs.yml": SPECS, **FILES}.items():
        (role / name).parent.mkdir(parents=True, exist_ok=True)
        (role / name).write_text(text)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "restart.yml").write_text(PLAYBOOK)
    return tmp_path


def _problems(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    rc = checker.main(["check_argument_specs.py", str(root)])
    lines = capsys.readouterr().out.splitlines()
    assert (rc == 0) == (len(lines) == 1), lines
    return lines[:-1]


def _undeclared(name: str) -> str:
    return (
        f"demo: tasks/restart.yml (entry point restart.yml) reads '{name}' but argument_specs.restart.yml "
        "does not declare it"
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_a_consistent_role_passes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _problems(tree, capsys) == []


def test_tasks_from_needs_an_entry_point_of_that_exact_name(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ansible looks the spec up by the tasks_from string: "restart" is not "restart.yml".
    _edit(tree / "playbooks" / "restart.yml", "tasks_from: restart.yml", "tasks_from: restart")
    problems = _problems(tree, capsys)
    assert len(problems) == 1
    assert "playbooks/restart.yml" in problems[0]
    assert "tasks_from: restart has no entry point 'restart'" in problems[0]


def test_an_option_read_through_vars_must_be_declared(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(tree / "roles/demo/meta/argument_specs.yml", "      demo_port: *demo_port\n", "")
    assert _problems(tree, capsys) == [_undeclared("demo_port")]


def test_an_option_read_by_a_template_must_be_declared(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(tree / "roles/demo/meta/argument_specs.yml", "      demo_name: *demo_name\n", "")
    assert _problems(tree, capsys) == [_undeclared("demo_name")]


def test_a_private_input_of_the_caller_must_be_declared(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (tree / "roles/demo/meta/argument_specs.yml").read_text()
    (tree / "roles/demo/meta/argument_specs.yml").write_text(text[: text.index("      _demo_hosts:")])
    assert _problems(tree, capsys) == [_undeclared("_demo_hosts")]


def test_an_entry_point_declares_only_what_it_reads(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(
        tree / "roles/demo/tasks/restart_one.yml",
        "- name: Render again\n  ansible.builtin.import_tasks: configure.yml\n",
        "",
    )
    assert _problems(tree, capsys) == [
        "demo: argument_specs.restart.yml declares 'demo_name', which tasks/restart.yml never reads"
    ]


def test_a_shared_option_keeps_mains_type_and_default(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(
        tree / "roles/demo/meta/argument_specs.yml",
        "      demo_port: *demo_port\n",
        "      demo_port:\n        type: str\n        default: '80'\n        description: Port, a string here.\n",
    )
    problems = _problems(tree, capsys)
    assert problems == [
        "demo: argument_specs.restart.yml.options.demo_port differs from argument_specs.main in type, default "
        "(same variable: same type, elements, default, choices, required, no_log)"
    ]


def test_an_entry_point_needs_its_task_file(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "roles/demo/tasks/restart.yml").unlink()
    assert "demo: argument_specs.restart.yml has no task file tasks/restart.yml(.yml)" in _problems(tree, capsys)


def test_this_repository_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert _problems(REPO, capsys) == []
