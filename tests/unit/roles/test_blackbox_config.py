"""The blackbox_exporter role's modules, rendered by Ansible from the role's own defaults and vars,
checked by the real ``prometheus-blackbox-exporter --config.check`` (the role's ``validate:``) and
run by a real exporter on a free loopback port against a real ZooKeeper (tests/fixtures/
zk_ensemble.py, one member) and small HTTP servers standing in for Mesos ``/health`` and
Marathon ``/ping``. The module names are a contract with the prometheus role's probe jobs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    render_role_template,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.processes import serving

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "blackbox_exporter"
BINARY = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
CONTRACT = {"zk_ruok", "zk_srvr", "mesos_health", "marathon_ping", "http_2xx", "tcp_connect"}

# No skip when it is missing: tools/setup installs it, and a test that skips proves nothing.


def render(tmp_path: Path, template: str, extra_vars: dict | None = None) -> Path:
    """``roles/blackbox_exporter/templates/<template>`` rendered by ansible-playbook; the file."""
    return render_role_template(ROLE, template, tmp_path, extra_vars)


def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    """The role's validate command, as the template task runs it."""
    return subprocess.run(
        [BINARY, "--config.check", f"--config.file={path}"], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("blackbox"), "blackbox.yml.j2")


def test_the_rendered_config_passes_the_real_config_check(config: Path) -> None:
    done = config_check(config)
    assert done.returncode == 0, done.stderr
    assert "Config file is ok" in done.stderr
    assert set(yaml.safe_load(config.read_text())["modules"]) == CONTRACT


def test_user_modules_are_merged_and_a_broken_one_fails_the_check(tmp_path: Path) -> None:
    extra = {
        "blackbox_exporter_modules": {
            "dns_udp": {"prober": "dns", "dns": {"query_name": "example.org"}},
            "tcp_connect": {"prober": "tcp", "timeout": "2s"},
        }
    }
    merged = yaml.safe_load(render(tmp_path, "blackbox.yml.j2", extra).read_text())["modules"]
    assert set(merged) == CONTRACT | {"dns_udp"}
    assert merged["tcp_connect"] == {"prober": "tcp", "timeout": "2s"}
    assert merged["zk_ruok"]["tcp"]["query_response"] == [{"send": "ruok"}, {"expect": "^imok$"}]

    broken = {"blackbox_exporter_modules": {"bad": {"prober": "tcp", "tcp": {"query_response": [{"expect": "(["}]}}}}
    done = config_check(render(tmp_path, "blackbox.yml.j2", broken))
    assert done.returncode != 0
    assert "Could not compile regular expression" in done.stderr


def test_the_rendered_args_name_the_config_and_the_port(tmp_path: Path) -> None:
    text = render(tmp_path, "prometheus-blackbox-exporter.default.j2").read_text()
    assert "ARGS=\"'--config.file=/etc/prometheus/blackbox.yml' '--web.listen-address=:9115'\"" in text


@pytest.fixture(scope="module")
def exporter(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real blackbox exporter with the rendered modules on a free loopback port; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("blackbox") / "exporter.log"
    argv = [BINARY, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
    with serving(argv, f"{base}/metrics", log, "the blackbox exporter"):
        yield base


@pytest.fixture(scope="module")
def zookeeper() -> Iterator[ZkEnsemble]:
    ens = ZkEnsemble(size=1, name="zk-blackbox")
    try:
        ens.start(timeout=60)
        yield ens
    finally:
        ens.stop()


def probe(base: str, module: str, target: str) -> float:
    """``probe_success`` of one ``/probe`` request."""
    query = urllib.parse.urlencode({"module": module, "target": target})
    with urllib.request.urlopen(f"{base}/probe?{query}", timeout=20) as answer:
        body = answer.read().decode()
    found = re.search(r"^probe_success (\S+)$", body, re.MULTILINE)
    assert found, body
    return float(found.group(1))


def closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.mark.parametrize("module", ["zk_ruok", "zk_srvr", "tcp_connect"])
def test_zookeeper_modules_succeed_on_a_real_member_and_fail_on_a_closed_port(
    exporter: str, zookeeper: ZkEnsemble, module: str
) -> None:
    member = zookeeper.members[0]
    assert member.mode() == "standalone"
    assert probe(exporter, module, member.hostport) == 1
    assert probe(exporter, module, closed_port()) == 0


class _Answer(BaseHTTPRequestHandler):
    """Answers every GET with the server's ``status`` and ``body``."""

    def do_GET(self) -> None:
        status, body = self.server.answer  # type: ignore[attr-defined]
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server answering ``server.answer`` = (status, body); the test sets it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.answer = (200, "")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize(
    "case",
    [
        ("marathon_ping", "/ping", (200, "pong\n"), 1),
        ("marathon_ping", "/ping", (200, "pang\n"), 0),
        ("marathon_ping", "/ping", (503, "pong\n"), 0),
        ("mesos_health", "/health", (200, ""), 1),
        ("mesos_health", "/health", (503, ""), 0),
        ("http_2xx", "/", (204, ""), 1),
        ("http_2xx", "/", (500, ""), 0),
    ],
)
def test_http_modules(
    exporter: str, http_server: ThreadingHTTPServer, case: tuple[str, str, tuple[int, str], int]
) -> None:
    """(module, path, the server's (status, body), expected probe_success)."""
    module, path, answer, success = case
    http_server.answer = answer  # type: ignore[attr-defined]
    port = http_server.server_address[1]
    assert probe(exporter, module, f"http://127.0.0.1:{port}{path}") == success


def test_http_modules_fail_on_a_closed_port(exporter: str) -> None:
    assert probe(exporter, "marathon_ping", f"http://{closed_port()}/ping") == 0
    assert probe(exporter, "mesos_health", f"http://{closed_port()}/health") == 0
