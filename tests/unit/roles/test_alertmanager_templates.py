"""The alertmanager role's files, rendered by the role itself and checked by the real Alertmanager tools.

Each test runs ``ansible-playbook`` with the role's ``alertmanager_configure`` tag (preflight and
configure; no package, no service) against localhost, with the role's private file paths pointed
at a temporary directory. What the role writes is then checked independently of the role's own
``validate:``: ``amtool check-config``, ``amtool config routes test`` for where an alert goes, and
a real ``/usr/bin/prometheus-alertmanager`` started on a free loopback port with the rendered ARGS
delivering an alert to a webhook receiver served by the test. Bad input must fail in the
preflight with its message, before anything is written.
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    run_role_play,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_ports
from ansible_collections.orchestrator.platform.tests.support.processes import serving
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for

AMTOOL = "/usr/bin/amtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

PLAY = """\
- name: Render the alertmanager role's files
  hosts: monitoring
  gather_facts: false
  roles:
    - role: orchestrator.platform.alertmanager
"""

pytestmark = pytest.mark.slow

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


def inventory(monitoring: dict[str, dict[str, Any]] | None = None, **groups: dict[str, Any]) -> dict[str, Any]:
    children = {"monitoring": {"hosts": monitoring or {"localhost": LOCAL}}, **groups}
    return {"all": {"children": children}}


class Rendered:
    def __init__(self, proc: subprocess.CompletedProcess[str], root: Path) -> None:
        self.proc = proc
        self.root = root
        self.output = proc.stdout

    def ok(self) -> Rendered:
        assert self.proc.returncode == 0, self.output[-6000:]
        return self

    def changed(self) -> int:
        found = re.search(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)", self.output, re.M)
        assert found, self.output[-3000:]
        return int(found.group(1))

    @property
    def config(self) -> Path:
        return self.root / "alertmanager.yml"

    def args(self) -> list[str]:
        found = re.search(r'^ARGS="(.*)"$', (self.root / "default").read_text(), re.M)
        assert found
        return shlex.split(found.group(1))


def render(
    tmp_path: Path, variables: dict[str, Any] | None = None, inv: dict[str, Any] | None = None, *opts: str
) -> Rendered:
    root = tmp_path / "etc"
    root.mkdir(exist_ok=True)
    private = {
        "_alertmanager_config_file": str(root / "alertmanager.yml"),
        "_alertmanager_defaults_file": str(root / "default"),
    }
    proc = run_role_play(
        tmp_path,
        PLAY,
        inv if inv is not None else inventory(),
        {**(variables or {}), **private},
        "--tags",
        "alertmanager_configure",
        *opts,
    )
    return Rendered(proc, root)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def receivers_for(config: Path, *labels: str) -> str:
    """Where Alertmanager routes an alert with these labels (``amtool config routes test``)."""
    done = amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


# Webhook, e-mail, a nested route tree and the SMTP settings with a password.
SEVERAL: dict[str, Any] = {
    "alertmanager_smtp_smarthost": "mail.example.net:587",
    "alertmanager_smtp_from": "alertmanager@example.net",
    "alertmanager_smtp_auth_username": "alertmanager",
    "alertmanager_smtp_auth_password": "smtp-pass-not-in-the-log",
    "alertmanager_receivers": [
        {"name": "default"},
        {"name": "pager", "webhook_configs": [{"url": "http://pager.example.net:5001/hook", "send_resolved": True}]},
        {"name": "zk-team", "webhook_configs": [{"url": "http://zk.example.net/hook"}]},
        {"name": "tickets", "email_configs": [{"to": "ops@example.net"}]},
    ],
    "alertmanager_route": {
        "receiver": "default",
        "group_by": ["alertname", "instance"],
        "routes": [
            {
                "matchers": ['severity="page"'],
                "receiver": "pager",
                "routes": [{"matchers": ['component="zookeeper"'], "receiver": "zk-team", "continue": True}],
            },
            {"matchers": ['severity="ticket"'], "receiver": "tickets"},
        ],
    },
}


def test_defaults_render_a_config_amtool_accepts_and_a_single_instance(tmp_path: Path) -> None:
    run = render(tmp_path).ok()
    checked = amtool("check-config", str(run.config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    assert run.args() == [
        f"--config.file={run.config}",
        "--web.listen-address=:9093",
        "--data.retention=120h",
        "--cluster.listen-address=",
    ]
    doc = yaml.safe_load(run.config.read_text())
    assert doc["global"] == {"resolve_timeout": "5m"}
    assert doc["inhibit_rules"] == [
        {
            "source_matchers": ['severity="page"'],
            "target_matchers": ['severity="ticket"'],
            "equal": ["alertname", "instance"],
        }
    ]
    assert receivers_for(run.config, "alertname=ZooKeeperMemberDown", "severity=page") == "default"
    assert oct(run.config.stat().st_mode & 0o777) == "0o640"
    assert render(tmp_path).ok().changed() == 0


def test_several_receivers_and_routes_route_as_configured_and_hide_the_password(tmp_path: Path) -> None:
    run = render(tmp_path, SEVERAL, None, "--diff").ok()
    checked = amtool("check-config", str(run.config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "smtp-pass-not-in-the-log" in run.config.read_text()
    assert "smtp-pass-not-in-the-log" not in run.output
    assert receivers_for(run.config, "severity=page", "component=zookeeper") == "zk-team"
    assert receivers_for(run.config, "severity=page", "component=mesos") == "pager"
    assert receivers_for(run.config, "severity=ticket") == "tickets"
    assert receivers_for(run.config, "severity=info") == "default"
    doc = yaml.safe_load(run.config.read_text())
    assert doc["global"]["smtp_smarthost"] == "mail.example.net:587"
    assert doc["global"]["smtp_require_tls"] is True
    # Check mode with a change reports it and writes nothing.
    before = run.config.read_bytes()
    checked_run = render(tmp_path, {**SEVERAL, "alertmanager_resolve_timeout": "10m"}, None, "--check").ok()
    assert checked_run.changed() == 1
    assert run.config.read_bytes() == before


def test_ha_peers_are_the_other_alertmanager_hosts(tmp_path: Path) -> None:
    inv = inventory(
        alertmanager={
            "hosts": {
                "localhost": {},
                "lab-mon2": {"ansible_connection": "docker", "ansible_host": "c0ffee"},
                "am3.example.net": {"ansible_host": "10.0.5.3"},
            }
        }
    )
    run = render(tmp_path, {"alertmanager_cluster_enabled": True}, inv).ok()
    assert run.args()[3:] == [
        "--cluster.listen-address=0.0.0.0:9094",
        "--cluster.peer=lab-mon2:9094",
        "--cluster.peer=10.0.5.3:9094",
    ]
    assert amtool("check-config", str(run.config)).returncode == 0


BAD_INPUT: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-receiver": (
        {
            **SEVERAL,
            "alertmanager_route": {
                **SEVERAL["alertmanager_route"],
                "routes": [
                    {
                        "matchers": ['severity="page"'],
                        "receiver": "pager",
                        "routes": [{"matchers": ['component="zookeeper"'], "receiver": "zookeeper-team"}],
                    },
                ],
            },
        },
        'Route alertmanager_route.routes[0].routes[0] (matchers ["component=\\"zookeeper\\""]) names receiver '
        "'zookeeper-team', which does not exist",
    ),
    "unknown-root-receiver": (
        {"alertmanager_route": {"receiver": "ops"}},
        "Route alertmanager_route names receiver 'ops', which does not exist",
    ),
    "duplicate-receiver": (
        {"alertmanager_receivers": [{"name": "default"}, {"name": "default"}]},
        "the name default is used 2 times",
    ),
    "password-without-user": (
        {"alertmanager_smtp_smarthost": "mail:25", "alertmanager_smtp_auth_password": "x"},
        "alertmanager_smtp_auth_password needs alertmanager_smtp_auth_username",
    ),
}


def test_bad_input_is_refused_by_the_preflight_before_anything_is_written(tmp_path: Path) -> None:
    run = render(tmp_path, {}, inventory({name: {**LOCAL, **bad} for name, (bad, _message) in BAD_INPUT.items()}))
    assert run.proc.returncode != 0
    failures = {
        host: json.loads(doc)
        for host, doc in re.findall(r"^fatal: \[([^\]]+)\]: FAILED! => (\{.*\})$", run.output, re.M)
    }
    assert sorted(failures) == sorted(BAD_INPUT), run.output[-5000:]
    for host, (_bad, message) in BAD_INPUT.items():
        assert message in failures[host]["msg"], (host, failures[host]["msg"])
        assert failures[host]["msg"].endswith("Nothing was changed.")
    assert (
        "Receivers defined in alertmanager_receivers: default, pager, zk-team, tickets"
        in failures["unknown-receiver"]["msg"]
    )
    tasks = [line for line in run.output.splitlines() if line.startswith("TASK [")]
    assert all(": Preflight | " in line or "Validating arguments" in line for line in tasks), tasks
    assert list(run.root.iterdir()) == []


# --------------------------------------------------------------------------------------------
# A real Alertmanager delivering to a webhook receiver
# --------------------------------------------------------------------------------------------


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def test_a_real_alertmanager_delivers_an_alert_to_the_webhook_receiver(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    hook_url, received = webhook
    (port,) = free_ports(1)
    variables = {
        "alertmanager_listen_address": "127.0.0.1",
        "alertmanager_port": port,
        "alertmanager_receivers": [{"name": "default"}, {"name": "test-hook", "webhook_configs": [{"url": hook_url}]}],
        "alertmanager_route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "routes": [{"matchers": ['severity="page"'], "receiver": "test-hook"}],
        },
    }
    run = render(tmp_path, variables).ok()
    with (tmp_path / "alertmanager.log").open("wb") as log:
        proc = subprocess.Popen(
            [ALERTMANAGER, *run.args(), f"--storage.path={tmp_path / 'data'}"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is None and _ready(base + "/-/ready"), 60, "Alertmanager ready")
        alert = [{"labels": {"alertname": "ZooKeeperMemberDown", "severity": "page", "instance": "lab-zk2"}}]
        request = urllib.request.Request(
            base + "/api/v2/alerts", data=json.dumps(alert).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        wait_for(lambda: received, 30, "the alert at the webhook receiver")
        (notification,) = received
        assert notification["receiver"] == "test-hook"
        assert [a["labels"]["instance"] for a in notification["alerts"]] == ["lab-zk2"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, (tmp_path / "alertmanager.log").read_text()[-3000:]


# --------------------------------------------------------------------------------------------
# HA: two real Alertmanagers gossiping, from the role's ARGS
# --------------------------------------------------------------------------------------------


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _cluster(base: str) -> dict[str, Any]:
    """``cluster`` of GET /api/v2/status: ``status`` (ready, settling, disabled), ``peers`` (every
    member, this one included: memberlist's Members()), ``name`` when clustered."""
    cluster: dict[str, Any] = _get_json(base + "/api/v2/status")["cluster"]
    return cluster


def test_two_real_alertmanagers_from_the_role_form_a_cluster_and_share_silences(tmp_path: Path) -> None:
    web_a, web_b, gossip_a, gossip_b, web_single = free_ports(5)
    common = {"alertmanager_listen_address": "127.0.0.1", "alertmanager_cluster_enabled": True}
    members = {
        "a": (web_a, gossip_a, gossip_b),
        "b": (web_b, gossip_b, gossip_a),
    }
    argv: dict[str, list[str]] = {}
    for name, (web, gossip, other) in members.items():
        workdir = tmp_path / name
        workdir.mkdir()
        variables = {
            **common,
            "alertmanager_port": web,
            "alertmanager_cluster_port": gossip,
            "alertmanager_cluster_peers": [f"127.0.0.1:{other}"],
        }
        args = render(workdir, variables).ok().args()
        assert args[3:] == [f"--cluster.listen-address=0.0.0.0:{gossip}", f"--cluster.peer=127.0.0.1:{other}"]
        argv[name] = [ALERTMANAGER, *args, f"--storage.path={workdir / 'data'}"]
    single_dir = tmp_path / "single"
    single_dir.mkdir()
    single = {"alertmanager_listen_address": "127.0.0.1", "alertmanager_port": web_single}
    single_args = render(single_dir, {**single, "alertmanager_cluster_enabled": False}).ok().args()
    assert single_args[3:] == ["--cluster.listen-address="]

    base_a, base_b = f"http://127.0.0.1:{web_a}", f"http://127.0.0.1:{web_b}"
    base_single = f"http://127.0.0.1:{web_single}"
    with ExitStack() as stack:
        for name, base in (("a", base_a), ("b", base_b)):
            log = tmp_path / f"alertmanager-{name}.log"
            stack.enter_context(serving(argv[name], base + "/api/v2/status", log, f"Alertmanager {name}", 60))
        stack.enter_context(
            serving(
                [ALERTMANAGER, *single_args, f"--storage.path={single_dir / 'data'}"],
                base_single + "/api/v2/status",
                tmp_path / "alertmanager-single.log",
                "Alertmanager single",
                60,
            )
        )

        def logs() -> str:
            return "\n".join(f"{log.name}:\n{log.read_text()[-2000:]}" for log in sorted(tmp_path.glob("*.log")))

        # "ready" once gossip settled: 3 unchanged polls of the member count after the first, one
        # poll per 10 gossip intervals (2 s by default: cluster/cluster.go Peer.Settle), about 10 s.
        # The role binds gossip to 0.0.0.0, so memberlist advertises the host's private address:
        # the peers' addresses are checked by port only.
        def settled() -> dict[str, dict[str, Any]] | None:
            states = {base: _cluster(base) for base in (base_a, base_b)}
            done = all(s["status"] == "ready" and len(s["peers"]) == 2 for s in states.values())
            return states if done else None

        states = wait_for(settled, 60, "both Alertmanagers ready with 2 peers", max_interval=1.0, details=logs)
        for state in states.values():
            assert sorted(int(peer["address"].rsplit(":", 1)[1]) for peer in state["peers"]) == sorted(
                [gossip_a, gossip_b]
            )
        assert states[base_a]["name"] != states[base_b]["name"]

        now = time.time()
        silence = {
            "matchers": [{"name": "alertname", "value": "ZooKeeperMemberDown", "isRegex": False}],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
            "createdBy": "test_alertmanager_templates",
            "comment": "made on a, gossiped to b",
        }
        request = urllib.request.Request(
            base_a + "/api/v2/silences", data=json.dumps(silence).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            silence_id = json.loads(answer.read())["silenceID"]

        def on_b() -> dict[str, Any] | None:
            return next((s for s in _get_json(base_b + "/api/v2/silences") if s["id"] == silence_id), None)

        gossiped = wait_for(on_b, 30, f"silence {silence_id} on b", max_interval=0.5, details=logs)
        assert gossiped["comment"] == "made on a, gossiped to b"
        assert gossiped["status"]["state"] == "active"

        # --cluster.listen-address="" leaves the API without a peer: status "disabled", no peers, no name.
        assert _cluster(base_single) == {"status": "disabled", "peers": []}
