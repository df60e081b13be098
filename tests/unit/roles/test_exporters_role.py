"""The exporters role: its hosts get exactly the code the exporters run, that code needs no
ansible-core, the rendered files are what systemd and the exporters accept, and bad input stops
the role in preflight.

roles/exporters/vars/main.yml lists the collection's module_utils the role copies
(``_exporters_module_utils``); it must be the import closure of both exporters, computed from
the files' own import statements, and no file of it may import ``ansible``. The role's
templates are rendered by ansible-playbook on localhost into a temporary directory (nothing is
installed), then: ``systemd-analyze verify`` checks the unit, and the rendered entry point runs
the copied files alone, ``ansible`` not importable, as the service would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    LOCAL,
    LOCALHOST_ENV,
    ansible_env,
    ansible_playbook,
)
from ansible_collections.orchestrator.platform.tests.support.import_closure import (
    ansible_imports,
    block_ansible,
    closure,
    copy_listed,
    listing_difference,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_ports
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "exporters"
ENTRIES = ("_exporter_zookeeper.py", "_exporter_mesos.py")
NO_ANSIBLE = block_ansible("ansible-core is not on the exporters' hosts")


def _role_list() -> list[str]:
    return yaml.safe_load((ROLE / "vars/main.yml").read_text())["_exporters_module_utils"]


def test_the_role_copies_the_exporters_import_closure():
    listed, needed = _role_list(), closure(ENTRIES)
    assert sorted(listed) == sorted(needed), listing_difference(listed, needed)


def test_the_exporters_import_closure_imports_nothing_of_ansible():
    assert ansible_imports(closure(ENTRIES)) == {}


RENDER = """
- name: Render the exporters role's files
  hosts: localhost
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  vars:
    role_path: {role}
    mesos_master_hostname: exporter-test-host  # no facts: site.yml gathers none
  tasks:
    - name: Unit
      ansible.builtin.template:
        src: {role}/templates/orchestrator-exporter@.service.j2
        dest: "{{{{ out }}}}/orchestrator-exporter@.service"
        mode: "0644"
    - name: Entry point
      ansible.builtin.template:
        src: {role}/templates/orchestrator-exporter.py.j2
        dest: "{{{{ out }}}}/orchestrator-exporter"
        mode: "0755"
    - name: ZooKeeper settings
      ansible.builtin.template:
        src: {role}/templates/exporter.json.j2
        dest: "{{{{ out }}}}/zookeeper.json"
        mode: "0640"
      vars:
        _exporters_config: "{{{{ _exporters_zookeeper_config }}}}"
    - name: Mesos settings
      ansible.builtin.template:
        src: {role}/templates/exporter.json.j2
        dest: "{{{{ out }}}}/mesos.json"
        mode: "0640"
      vars:
        _exporters_config: "{{{{ _exporters_mesos_config }}}}"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The role's templates rendered for a host in every group, installed under a temp dir."""
    tmp = tmp_path_factory.mktemp("exporters-role")
    out = tmp / "out"
    out.mkdir()
    install = tmp / "opt"
    zk_port, exporter_port, mesos_port = free_ports(3)
    playbook = tmp / "render.yml"
    playbook.write_text(RENDER.format(role=ROLE))
    extra = {
        "out": str(out),
        "exporters_install_dir": str(install),
        "exporters_config_dir": str(out),
        "exporters_zookeeper_enabled": True,
        "exporters_mesos_master_enabled": True,
        "exporters_mesos_agent_enabled": False,
        "exporters_listen_address": "127.0.0.1",
        "exporters_zookeeper_port": exporter_port,
        "exporters_mesos_port": mesos_port,
        "exporters_interval": 0.5,
        "exporters_timeout": 0.3,
        "zookeeper_client_port": zk_port,
        "exporters_mesos_username": "monitor",
        "exporters_mesos_password": "s3cret",
    }
    proc = ansible_playbook(
        playbook, *LOCAL, "-e", json.dumps(extra), inventory="localhost,", env=ansible_env(**LOCALHOST_ENV)
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    copy_listed(_role_list(), install / "lib")
    return out


def test_settings_files_carry_the_variables(rendered: Path):
    zookeeper = json.loads((rendered / "zookeeper.json").read_text())
    mesos = json.loads((rendered / "mesos.json").read_text())
    assert zookeeper["targets"][0].startswith("127.0.0.1:")
    assert zookeeper["interval"] == 0.5 and zookeeper["listen_address"] == "127.0.0.1"
    assert mesos["master"] == "http://exporter-test-host:5050"
    assert mesos["agent"] is None
    assert (mesos["url_username"], mesos["url_password"]) == ("monitor", "s3cret")


def test_unit_is_hardened_and_systemd_accepts_it(rendered: Path):
    unit = (rendered / "orchestrator-exporter@.service").read_text()
    for line in (
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "PrivateTmp=true",
        "RestrictAddressFamilies=AF_INET AF_INET6",
        "MemoryMax=128M",
        "User=orchestrator-exporter",
    ):
        assert line in unit.splitlines()
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: install systemd (tools/setup does)")
    instance = rendered / "orchestrator-exporter@zookeeper.service"
    instance.symlink_to(rendered / "orchestrator-exporter@.service")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(instance)], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "Failed to resolve user" not in line and "No such process" not in line
    ]
    # verify exits 0 even on a line it ignores: what it prints is the verdict.
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


def _entry(rendered: Path, *args: str) -> list[str]:
    """The rendered entry point run as the service would, ansible not importable."""
    script = (
        NO_ANSIBLE
        + f"sys.argv = ['orchestrator-exporter', *{list(args)!r}]\n"
        + (rendered / "orchestrator-exporter").read_text().replace("# {{ ansible_managed }}", "")
    )
    return [sys.executable, "-I", "-c", script]


def test_check_mode_of_the_entry_accepts_the_rendered_settings(rendered: Path):
    for kind in ("zookeeper", "mesos"):
        done = subprocess.run(
            _entry(rendered, kind, str(rendered / f"{kind}.json"), "--check"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"port": 9141, "targets": []}, "targets:"),
        ({"port": 9141, "targets": ["127.0.0.1:2181"], "interval": 5, "timeout": 5}, "timeout (5) must be shorter"),
        ({"port": "x", "targets": ["127.0.0.1:2181"]}, "port must be a TCP port"),
    ],
)
def test_bad_settings_exit_2_naming_the_setting(rendered: Path, tmp_path: Path, settings: dict, message: str):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(settings))
    done = subprocess.run(
        _entry(rendered, "zookeeper", str(path), "--check"), capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_the_entry_serves_metrics_and_stops_on_sigterm(rendered: Path):
    """Nothing listens on the target port: zk_up 0, the scrape answers, SIGTERM ends it with 0."""
    settings = json.loads((rendered / "zookeeper.json").read_text())
    proc = subprocess.Popen(
        _entry(rendered, "zookeeper", str(rendered / "zookeeper.json")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def scraped() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"exporter exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings['port']}/metrics", timeout=2) as resp:
                    return resp.read().decode()
            except OSError:
                return None

        text = wait_for(scraped, 20, "the exporter's /metrics", interval=0.1)
        assert text is not None
        samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
        assert samples["zk_up"].value == 0
        assert samples["zk_up"].labels == {"zk_host": settings["targets"][0]}
        assert samples["orchestrator_exporter_poll_errors_total"].labels["reason"] == "connect"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0


PREFLIGHT = textwrap.dedent(
    """
    - name: Exporters preflight only
      hosts: localhost
      gather_facts: false
      roles:
        - role: orchestrator.platform.exporters
    """
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"exporters_zookeeper_port": 9105}, "must be two different TCP ports"),
        ({"exporters_interval": 5, "exporters_timeout": 10}, "timeout shorter than the interval"),
        ({"exporters_zookeeper_targets": "127.0.0.1:2181"}, "exporters_zookeeper_targets must be a non-empty list"),
        ({"exporters_zookeeper_targets": ["zk1"]}, "exporters_zookeeper_targets must be a non-empty list"),
        ({"exporters_mesos_master_enabled": True, "exporters_mesos_master_url": "zk1:5050"}, "base URLs like"),
        # The argument specs refuse it even before preflight, naming the variable.
        ({"exporters_zookeeper_enabled": "maybe"}, "argument 'exporters_zookeeper_enabled' is of type"),
    ],
)
def test_bad_input_stops_in_preflight(tmp_path: Path, extra: dict, message: str):
    """Only the preflight tag runs (and in check mode): whatever happens, nothing is installed here."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(PREFLIGHT)
    variables = {
        "exporters_zookeeper_enabled": True,
        "ansible_facts": {"nodename": "h", "service_mgr": "systemd"},
        **extra,
    }
    proc = ansible_playbook(
        playbook,
        *LOCAL,
        "--check",
        "--tags",
        "exporters_preflight",
        "-e",
        json.dumps(variables),
        inventory="localhost,",
        env=ansible_env(**LOCALHOST_ENV, ANSIBLE_RETRY_FILES_ENABLED="false"),
    )
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert " ".join(message.split()) in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert "changed=0" in proc.stdout


def test_good_input_passes_preflight(tmp_path: Path):
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(PREFLIGHT)
    variables = {
        "exporters_zookeeper_enabled": True,
        "exporters_mesos_master_enabled": True,
        "exporters_mesos_agent_enabled": True,
        "ansible_facts": {"nodename": "h", "service_mgr": "systemd"},
    }
    proc = ansible_playbook(
        playbook,
        *LOCAL,
        "--check",
        "--tags",
        "exporters_preflight",
        "-e",
        json.dumps(variables),
        inventory="localhost,",
        env=ansible_env(**LOCALHOST_ENV, ANSIBLE_RETRY_FILES_ENABLED="false"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "failed=0" in proc.stdout
    assert os.environ.get("ANSIBLE_COLLECTIONS_PATH"), "run `. tools/env` first"
