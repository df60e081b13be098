"""The node_exporter role's ARGS, rendered by Ansible from the role's own defaults and vars,
read back as systemd reads them (EnvironmentFile=, then ExecStart's split of $ARGS) and run by
the real ``prometheus-node-exporter`` on a free loopback port: the exporter starts with them,
answers /metrics once with the collectors they name, and is stopped. The preflight refuses
collectors the installed exporter does not have, before anything is written.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    render_role_template,
    run_local_play,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.processes import serving

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "node_exporter"
BINARY = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"

# No skip when it is missing: tools/setup installs it, and a test that skips proves nothing.


PREFLIGHT_PLAY = """
- name: The role's preflight only
  hosts: localhost
  gather_facts: false
  roles:
    - role: orchestrator.platform.node_exporter
"""


def render_args(tmp_path: Path, extra_vars: dict) -> Path:
    return render_role_template(ROLE, "prometheus-node-exporter.default.j2", tmp_path, extra_vars)


def env_file_value(line: str) -> str:
    """The value of ``NAME="..."`` as systemd's EnvironmentFile= reads it: inside double quotes a
    backslash before one of \\ " $ ` stands for that character and is kept before any other."""
    value = line.split("=", 1)[1]
    assert value.startswith('"') and value.endswith('"') and len(value) >= 2, line
    out: list[str] = []
    chars = iter(value[1:-1])
    for char in chars:
        if char == "\\":
            following = next(chars)
            out.append(following if following in '\\"$`' else char + following)
        else:
            assert char != '"', f"unescaped double quote in {line}"
            out.append(char)
    return "".join(out)


def systemd_argv(env_file: Path) -> list[str]:
    """The arguments ``ExecStart=/usr/bin/prometheus-node-exporter $ARGS`` gets from ``env_file``.

    systemd reads ``ARGS="..."`` (env_file_value), then splits the unbraced ``$ARGS`` into words
    honouring quotes, where single quotes keep everything literally as in a shell: shlex does that
    split here (there is no systemd as PID 1 on this host to ask).
    """
    lines = [line for line in env_file.read_text().splitlines() if line.startswith("ARGS=")]
    assert len(lines) == 1, env_file.read_text()
    return shlex.split(env_file_value(lines[0]))


def test_the_role_knows_exactly_the_installed_exporters_collectors() -> None:
    shown = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30, check=False)
    installed = set(re.findall(r"Enable the (\w+) collector", shown.stdout + shown.stderr))
    known = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_node_exporter_known_collectors"]
    assert len(installed) > 50
    assert set(known) == installed


def test_the_default_args(tmp_path: Path) -> None:
    assert systemd_argv(render_args(tmp_path, {})) == ["--web.listen-address=:9100", "--collector.systemd"]


def test_the_exporter_starts_with_the_rendered_args_and_serves_their_collectors(tmp_path: Path) -> None:
    port = free_port()
    textfiles = tmp_path / 'text$files "q" `x`'
    textfiles.mkdir()
    (textfiles / "probe.prom").write_text("h2_textfile_probe 42\n", encoding="ascii")
    unit_include = r".+\.(service|timer)"
    args = systemd_argv(
        render_args(
            tmp_path,
            {
                "node_exporter_listen_host": "127.0.0.1",
                "node_exporter_port": port,
                "node_exporter_collectors_enabled": ["systemd", "processes"],
                "node_exporter_collectors_disabled": ["arp", "wifi"],
                "node_exporter_flags": {
                    "collector.systemd.unit-include": unit_include,
                    "collector.textfile.directory": str(textfiles),
                    "web.disable-exporter-metrics": True,
                },
            },
        )
    )
    assert args[0] == f"--web.listen-address=127.0.0.1:{port}"
    assert f"--collector.textfile.directory={textfiles}" in args
    log = tmp_path / "exporter.log"
    with serving([BINARY, *args], f"http://127.0.0.1:{port}/metrics", log, "the node exporter") as metrics:
        pass
    collectors = set(re.findall(r'^node_scrape_collector_success\{collector="([^"]+)"\}', metrics, re.MULTILINE))
    assert {"systemd", "processes", "textfile", "cpu"} <= collectors
    assert not {"arp", "wifi"} & collectors
    assert re.search(r"^h2_textfile_probe 42$", metrics, re.MULTILINE)
    assert "go_goroutines" not in metrics  # web.disable-exporter-metrics (a bare flag) was read
    # The regexp reached the exporter with its backslash (it logs the flags of the systemd collector).
    assert f'msg="Parsed flag --collector.systemd.unit-include" flag={unit_include}\n' in log.read_text()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"node_exporter_collectors_enabled": ["systemd", "sytemd"]}, "Unknown collector(s) sytemd"),
        ({"node_exporter_collectors_disabled": ["systemd"]}, "are both in node_exporter_collectors_enabled and"),
        (
            {"node_exporter_flags": {"collector.systemd": True}},
            "node_exporter_flags has names that are not flag names: collector.systemd",
        ),
        ({"node_exporter_flags": {"collector.textfile.directory": "/it's"}}, "values ARGS cannot hold"),
        ({"node_exporter_textfile_timers": ["apt", "smart"]}, "node_exporter_textfile_timers may name only"),
        ({"node_exporter_port": 70000}, "node_exporter_port=70000 must be a port"),
    ],
)
def test_the_preflight_refuses_bad_input_naming_the_variable(tmp_path: Path, variables: dict, expected: str) -> None:
    proc = run_local_play(tmp_path, PREFLIGHT_PLAY, variables, "--tags", "node_exporter_preflight")
    assert proc.returncode != 0
    assert expected in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert "Nothing was changed" in proc.stdout


def test_the_preflight_accepts_the_defaults(tmp_path: Path) -> None:
    proc = run_local_play(tmp_path, PREFLIGHT_PLAY, {}, "--tags", "node_exporter_preflight")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 .*failed=0", proc.stdout)
