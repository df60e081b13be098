"""The prometheus role's files, rendered by the role itself and checked by the real Prometheus tools.

Each test runs ``ansible-playbook`` with the role's ``prometheus_configure`` tag (preflight and
configure; no package, no service) against localhost, with the role's private directories
pointed at a temporary one. What the role writes is then checked independently of the role's own
``validate:``: ``promtool check config`` / ``check web-config`` on the files, ``promtool check
service-discovery`` for the labels and relabelling Prometheus really derives from the target
files, and a real ``/usr/bin/prometheus`` started on a free loopback port with the rendered ARGS
(its targets, its rules, a host added to a group showing up without a reload, basic auth over TLS).
Bad input must fail in the preflight with its message, before anything is written.
"""

from __future__ import annotations

import base64
import grp
import json
import re
import shlex
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    run_role_play,
)
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
ROLE_RULES = sorted(p.name for p in (REPO / "roles/prometheus/files/rules").glob("*.yml"))

PLAY = """\
- name: Render the prometheus role's files
  hosts: monitoring
  gather_facts: false
  roles:
    - role: orchestrator.platform.prometheus
"""

pytestmark = pytest.mark.slow


def inventory(**groups: dict[str, Any]) -> dict[str, Any]:
    """The monitoring host (this machine, local) and the platform's groups, each overridable."""
    base: dict[str, Any] = {
        "monitoring": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
        },
        # A container of the lab: ansible_host is the container's id, never an address.
        "zookeeper": {
            "hosts": {
                "lab-zk1": {"ansible_connection": "docker", "ansible_host": "3f2a9c0d11e1"},
                "zk2.example.net": {"ansible_connection": "ssh", "ansible_host": "10.0.0.12"},
                "zk3.example.net": {"ansible_connection": "ssh"},
            }
        },
        "mesos_masters": {"hosts": {"master1": {"ansible_host": "10.0.1.1", "mesos_master_port": 5052}}},
        "mesos_agents": {"hosts": {"agent1": {"ansible_host": "10.0.2.1"}, "agent2": {}}},
        "marathon": {"hosts": {"master1": {"marathon_http_port": 8081}}},
        "zk_sync": {"hosts": {}},
        "prometheus": {"hosts": {"localhost": {}}},
        "alertmanager": {"hosts": {"localhost": {}}},
    }
    base.update(groups)
    return {"all": {"children": {name: group for name, group in base.items() if group is not None}}}


class Rendered:
    """One ansible-playbook run of the role into ``root``."""

    def __init__(self, proc: subprocess.CompletedProcess[str], root: Path) -> None:
        self.proc = proc
        self.root = root

    @property
    def output(self) -> str:
        return self.proc.stdout

    def ok(self) -> Rendered:
        assert self.proc.returncode == 0, self.output[-6000:]
        return self

    def changed(self) -> int:
        found = re.search(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)", self.output, re.M)
        assert found, self.output[-3000:]
        return int(found.group(1))

    def changed_tasks(self) -> list[str]:
        """The names of the tasks that reported a change (with the item, for loops)."""
        tasks, current = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line
            elif line.startswith("changed: ["):
                tasks.append(f"{current} {line}")
        return tasks

    def yaml(self, name: str) -> Any:
        return yaml.safe_load((self.root / name).read_text())

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
        "_prometheus_config_dir": str(root),
        "_prometheus_defaults_file": str(root / "default"),
        "_prometheus_dropin_file": str(root / "unit.d" / "orchestrator-platform.conf"),
    }
    proc = run_role_play(
        tmp_path,
        PLAY,
        inv if inv is not None else inventory(),
        {**(variables or {}), **private},
        "--tags",
        "prometheus_configure",
        *opts,
    )
    return Rendered(proc, root)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def discovered(config: Path, job: str) -> list[dict[str, str]]:
    """The targets' final labels as Prometheus derives them (file_sd read, relabelling applied)."""
    done = promtool("check", "service-discovery", "--timeout=2s", str(config), job)
    assert done.returncode == 0, done.stderr
    return [t["labels"] for t in json.loads(done.stdout)]


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash from the C library's crypt(3) (libxcrypt), as htpasswd -B makes one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # noqa: PLC0415 - deprecated module (Python 3.13 drops it): imported where used, its warning silenced

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


# --------------------------------------------------------------------------------------------
# Defaults (one rendering, read by several tests)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Rendered]:
    tmp_path = tmp_path_factory.mktemp("defaults")
    return tmp_path, render(tmp_path).ok()


def test_defaults_render_a_config_promtool_accepts_with_every_job(defaults: tuple[Path, Rendered]) -> None:
    run = defaults[1]
    config = run.root / "prometheus.yml"
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout

    doc = run.yaml("prometheus.yml")
    jobs = [job["job_name"] for job in doc["scrape_configs"]]
    assert jobs == ["node", "zookeeper", "mesos", "marathon", "zk_sync", "blackbox", "prometheus", "alertmanager"]
    assert doc["global"] == {"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s"}
    assert doc["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["localhost:9093"]}]}]
    assert doc["rule_files"] == [str(run.root / "rules" / name) for name in ROLE_RULES]
    assert sorted(p.name for p in (run.root / "rules").iterdir()) == ROLE_RULES
    assert sorted(p.name for p in (run.root / "file_sd").iterdir()) == sorted(f"{job}.yml" for job in jobs)
    assert run.args() == [
        f"--config.file={config}",
        "--web.listen-address=:9090",
        "--storage.tsdb.retention.time=15d",
    ]
    assert oct((run.root / "prometheus.yml").stat().st_mode & 0o777) == "0o640"
    assert not (run.root / "web.yml").exists()


def test_targets_are_labelled_with_the_inventory_name_and_addressed_as_documented(
    defaults: tuple[Path, Rendered],
) -> None:
    run = defaults[1]
    config = run.root / "prometheus.yml"

    zookeeper = {t["instance"]: t["__address__"] for t in discovered(config, "zookeeper")}
    # docker connection: the inventory name, not the container id in ansible_host; ssh: ansible_host.
    assert zookeeper == {
        "lab-zk1": "lab-zk1:9141",
        "zk2.example.net": "10.0.0.12:9141",
        "zk3.example.net": "zk3.example.net:9141",
    }

    mesos = {t["instance"]: t["__address__"] for t in discovered(config, "mesos")}
    assert mesos == {"master1": "10.0.1.1:9105", "agent1": "10.0.2.1:9105", "agent2": "agent2:9105"}

    (marathon,) = discovered(config, "marathon")
    assert (marathon["instance"], marathon["__address__"], marathon["__metrics_path__"]) == (
        "master1",
        "10.0.1.1:8081",  # the host's own marathon_http_port
        "/metrics/prometheus",
    )
    node = {t["instance"] for t in discovered(config, "node")}
    assert node == {"localhost", "lab-zk1", "zk2.example.net", "zk3.example.net", "master1", "agent1", "agent2"}
    # An empty group: a job without targets, no error.
    assert run.yaml("file_sd/zk_sync.yml") == []
    assert discovered(config, "zk_sync") == []


def test_the_blackbox_job_probes_through_the_exporter_with_the_usual_relabelling(
    defaults: tuple[Path, Rendered],
) -> None:
    run = defaults[1]
    probes = {(t["instance"], t["module"]): t for t in discovered(run.root / "prometheus.yml", "blackbox")}
    assert sorted(probes) == sorted(
        [
            ("lab-zk1", "zk_ruok"),
            ("zk2.example.net", "zk_ruok"),
            ("zk3.example.net", "zk_ruok"),
            ("master1", "mesos_health"),
            ("agent1", "mesos_health"),
            ("agent2", "mesos_health"),
            ("master1", "marathon_ping"),
        ]
    )
    for target in probes.values():
        assert target["__address__"] == "127.0.0.1:9115"
        assert target["__metrics_path__"] == "/probe"
        assert target["__param_module"] == target["module"]
        assert target["target"] == target["__param_target"]
    assert probes[("lab-zk1", "zk_ruok")]["__param_target"] == "lab-zk1:2181"
    assert probes[("zk2.example.net", "zk_ruok")]["__param_target"] == "10.0.0.12:2181"
    assert probes[("master1", "mesos_health")]["__param_target"] == "http://10.0.1.1:5052/health"
    assert probes[("agent2", "mesos_health")]["__param_target"] == "http://agent2:5051/health"
    assert probes[("master1", "marathon_ping")]["__param_target"] == "http://10.0.1.1:8081/ping"


def test_a_second_run_changes_nothing_and_check_mode_writes_nothing(defaults: tuple[Path, Rendered]) -> None:
    tmp_path = defaults[0]
    snapshot = {p: p.read_bytes() for p in (tmp_path / "etc").rglob("*") if p.is_file()}
    assert render(tmp_path).ok().changed_tasks() == []
    checked = render(tmp_path, {"prometheus_retention_time": "30d"}, None, "--check", "--diff").ok()
    assert checked.changed() == 1
    assert '+ARGS="--config.file=' in checked.output and "retention.time=30d" in checked.output
    assert {p: p.read_bytes() for p in (tmp_path / "etc").rglob("*") if p.is_file()} == snapshot


def test_a_rule_file_with_an_error_never_replaces_anything(defaults: tuple[Path, Rendered]) -> None:
    tmp_path, good = defaults
    before = {p: p.read_bytes() for p in good.root.rglob("*") if p.is_file()}
    broken = tmp_path / "broken.yml"
    broken.write_text('groups:\n- name: broken\n  rules:\n  - alert: Broken\n    expr: up{job="x" == 0\n')
    run = render(tmp_path, {"prometheus_extra_rule_files": [str(broken)]})
    assert run.proc.returncode != 0
    assert "failed to validate" in run.output
    assert {p: p.read_bytes() for p in good.root.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------------------------
# Several jobs, options, web configuration
# --------------------------------------------------------------------------------------------


def test_jobs_as_data_with_options_and_extra_rule_files(tmp_path: Path) -> None:
    extra_rule = tmp_path / "site-rules.yml"
    extra_rule.write_text(
        'groups:\n- name: site\n  rules:\n  - alert: SiteDown\n    expr: up{job="api"} == 0\n    for: 1m\n'
        "    labels: {severity: page}\n"
    )
    variables: dict[str, Any] = {
        "prometheus_scrape_jobs": [
            {"name": "node", "groups": ["all"], "port": 9100, "scrape_interval": "30s"},
            {
                "name": "api",
                "groups": ["api"],
                "port": 8443,
                "scheme": "https",
                "metrics_path": "/internal/metrics",
                "params": {"format": ["prometheus"]},
                "metric_relabel_configs": [{"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}],
                "config": {
                    "basic_auth": {"username": "scraper", "password": "not-in-the-log"},
                    "tls_config": {"insecure_skip_verify": True},
                },
            },
        ],
        "prometheus_external_labels": {"cluster": "prod", "replica": "a"},
        "prometheus_retention_size": "50GB",
        "prometheus_listen_address": "127.0.0.1",
        "prometheus_port": 9091,
        "prometheus_web_external_url": "https://prometheus.example.net/",
        "prometheus_alertmanager_group": "",
        "prometheus_extra_rule_files": [str(extra_rule)],
    }
    inv = inventory(api={"hosts": {"api1": {"ansible_host": "10.0.3.1"}}})
    run = render(tmp_path, variables, inv, "--diff").ok()
    checked = promtool("check", "config", str(run.root / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The job's password is in the file, never in Ansible's output (its diff is hidden).
    assert "not-in-the-log" in (run.root / "prometheus.yml").read_text()
    assert "not-in-the-log" not in run.output

    doc = run.yaml("prometheus.yml")
    assert "alerting" not in doc
    assert doc["global"]["external_labels"] == {"cluster": "prod", "replica": "a"}
    assert doc["rule_files"][-1] == str(run.root / "rules" / "site-rules.yml")
    (api,) = discovered(run.root / "prometheus.yml", "api")
    assert api == {
        "__address__": "10.0.3.1:8443",
        "__metrics_path__": "/internal/metrics",
        "__param_format": "prometheus",
        "__scheme__": "https",
        "__scrape_interval__": "15s",
        "__scrape_timeout__": "10s",
        "instance": "api1",
        "job": "api",
    }
    assert run.args() == [
        f"--config.file={run.root / 'prometheus.yml'}",
        "--web.listen-address=127.0.0.1:9091",
        "--storage.tsdb.retention.time=15d",
        "--storage.tsdb.retention.size=50GB",
        "--web.external-url=https://prometheus.example.net/",
    ]
    # Jobs and rule files dropped from the variables: their files go too.
    variables["prometheus_scrape_jobs"] = variables["prometheus_scrape_jobs"][:1]
    variables["prometheus_extra_rule_files"] = []
    render(tmp_path, variables, inv).ok()
    assert sorted(p.name for p in (run.root / "file_sd").iterdir()) == ["node.yml"]
    assert sorted(p.name for p in (run.root / "rules").iterdir()) == ROLE_RULES


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[Any]:
    """Start the real Prometheus with a rendering's ARGS (its own TSDB directory); stopped after."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(run: Rendered) -> subprocess.Popen[bytes]:
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [PROMETHEUS, *run.args(), f"--storage.tsdb.path={tmp_path / 'tsdb'}"], stdout=log, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _get(url: str, *, auth: tuple[str, str] | None = None, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_web_config_with_basic_auth_and_tls_is_checked_and_served(
    tmp_path: Path, tls_pair: tuple[Path, Path], prometheus_server: Any
) -> None:
    cert, key = tls_pair
    port = free_port()
    variables = {
        "prometheus_listen_address": "127.0.0.1",
        "prometheus_port": port,
        "prometheus_web_basic_auth_users": {"admin": bcrypt_hash("s3cret-pass")},
        "prometheus_web_tls_cert_file": str(cert),
        "prometheus_web_tls_key_file": str(key),
    }
    run = render(tmp_path, variables, None, "--diff").ok()
    web = run.root / "web.yml"
    assert promtool("check", "web-config", str(web)).returncode == 0
    assert oct(web.stat().st_mode & 0o777) == "0o640"
    assert grp.getgrgid(web.stat().st_gid).gr_name == "prometheus"
    assert yaml.safe_load(web.read_text())["tls_server_config"] == {"cert_file": str(cert), "key_file": str(key)}
    assert variables["prometheus_web_basic_auth_users"]["admin"] not in run.output  # no_log
    assert f"--web.config.file={web}" in run.args()

    proc = prometheus_server(run)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    url = f"https://127.0.0.1:{port}/-/ready"
    wait_for(
        lambda: proc.poll() is None and _get(url, context=context)[0] == 401,
        60,
        "Prometheus asking for credentials",
        retry_on=(OSError,),
    )
    # Authenticated, /-/ready answers 503 until the TSDB is open and the config loaded (seconds
    # on a loaded machine), then 200.
    wait_for(
        lambda: proc.poll() is None and _get(url, auth=("admin", "s3cret-pass"), context=context)[0] == 200,
        60,
        "Prometheus ready for the right credentials",
        retry_on=(OSError,),
    )
    assert _get(url, auth=("admin", "wrong"), context=context)[0] == 401


# --------------------------------------------------------------------------------------------
# A real server: targets, rules, a host added without a reload
# --------------------------------------------------------------------------------------------


def test_a_real_prometheus_loads_targets_and_rules_and_sees_a_new_host_without_reload(
    tmp_path: Path, prometheus_server: Any
) -> None:
    port = free_port()
    variables = {"prometheus_listen_address": "127.0.0.1", "prometheus_port": port}
    run = render(tmp_path, variables).ok()
    proc = prometheus_server(run)
    base = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: proc.poll() is None and _get(base + "/-/ready")[0] == 200, 60, "Prometheus ready", retry_on=(OSError,)
    )

    def targets(job: str) -> dict[str, str]:
        doc = json.loads(_get(base + "/api/v1/targets?state=any")[1])
        return {
            t["labels"]["instance"]: t["scrapeUrl"] for t in doc["data"]["activeTargets"] if t["labels"]["job"] == job
        }

    zk = wait_for(lambda: targets("zookeeper"), 30, "zookeeper targets")
    assert zk == {
        "lab-zk1": "http://lab-zk1:9141/metrics",
        "zk2.example.net": "http://10.0.0.12:9141/metrics",
        "zk3.example.net": "http://zk3.example.net:9141/metrics",
    }
    rule_groups = json.loads(_get(base + "/api/v1/rules")[1])["data"]["groups"]
    expected_groups = sum(
        len(yaml.safe_load((REPO / "roles/prometheus/files/rules" / n).read_text())["groups"]) for n in ROLE_RULES
    )
    assert len(rule_groups) == expected_groups

    def reloads() -> str:
        metrics = _get(base + "/metrics")[1].decode()
        found = re.search(r"^prometheus_config_last_reload_success_timestamp_seconds (\S+)$", metrics, re.M)
        assert found
        return found.group(1)

    before = reloads()
    inv = inventory()
    inv["all"]["children"]["zookeeper"]["hosts"]["zk4.example.net"] = {"ansible_host": "10.0.0.14"}
    grown = render(tmp_path, variables, inv, "--diff").ok()
    # Only the target files of the jobs that take the host changed (node, zookeeper and the
    # blackbox zk_ruok probe): prometheus.yml did not, so nothing to reload.
    changed = grown.changed_tasks()
    assert all("file-based service discovery" in line for line in changed), changed
    assert sorted(re.findall(r"\(item=(\w+):", " ".join(changed))) == ["blackbox", "node", "zookeeper"]
    assert "zk4.example.net" not in (run.root / "prometheus.yml").read_text()
    wait_for(lambda: "zk4.example.net" in targets("zookeeper"), 60, "the new host as a target without a reload")
    assert targets("zookeeper")["zk4.example.net"] == "http://10.0.0.14:9141/metrics"
    assert reloads() == before


# --------------------------------------------------------------------------------------------
# Bad input: refused by the preflight, nothing written
# --------------------------------------------------------------------------------------------


# Each bad setting on a host of its own: one ansible-playbook run shows every refusal.
BAD_INPUT: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-group": (
        {"prometheus_scrape_jobs": [{"name": "zk_sync", "groups": ["zk_sync_hosts"], "port": 9745}]},
        "Scrape job 'zk_sync' names group 'zk_sync_hosts', which the inventory does not have",
    ),
    "unknown-groups-of-one-job": (
        {"prometheus_scrape_jobs": [{"name": "api", "groups": ["api", "web"], "port": 80}]},
        "Scrape job 'api' names group 'api', which the inventory does not have. Scrape job 'api' names group 'web'",
    ),
    "unknown-alertmanager-group": (
        {"prometheus_alertmanager_group": "alertmanagers"},
        "prometheus_alertmanager_group='alertmanagers' is not a group of the inventory",
    ),
    "typo-in-a-job": (
        {"prometheus_scrape_jobs": [{"name": "node", "groups": ["all"], "port": 9100, "metric_path": "/m"}]},
        "job #1 (node) has unknown key(s) metric_path",
    ),
    "duplicate-job": (
        {
            "prometheus_scrape_jobs": [
                {"name": "a", "groups": ["all"], "port": 1},
                {"name": "a", "groups": ["all"], "port": 2},
            ]
        },
        "job name a is used 2 times",
    ),
    "probe-without-exporter": (
        {
            "prometheus_scrape_jobs": [
                {"name": "bb", "probes": [{"module": "zk_ruok", "groups": ["zookeeper"], "port": 2181}]}
            ]
        },
        'job #1 (bb) needs exporter as "host:port" of the blackbox exporter',
    ),
    "password-not-hashed": (
        {"prometheus_web_basic_auth_users": {"admin": "plain-password"}},
        "not a bcrypt hash for: admin",
    ),
    "bad-retention": ({"prometheus_retention_time": "15 days"}, "prometheus_retention_time=15 days"),
    "missing-rule-file": (
        {"prometheus_extra_rule_files": ["/nonexistent/rules.yml"]},
        "Not found or not named *.yml or *.yaml: /nonexistent/rules.yml",
    ),
}


def test_bad_input_is_refused_by_the_preflight_before_anything_is_written(tmp_path: Path) -> None:
    inv = inventory()
    local = inv["all"]["children"]["monitoring"]["hosts"]["localhost"]
    inv["all"]["children"]["monitoring"]["hosts"] = {
        name: {**local, **bad} for name, (bad, _message) in BAD_INPUT.items()
    }
    run = render(tmp_path, {}, inv)
    assert run.proc.returncode != 0
    failures = {
        host: json.loads(doc)
        for host, doc in re.findall(r"^fatal: \[([^\]]+)\]: FAILED! => (\{.*\})$", run.output, re.M)
    }
    assert sorted(failures) == sorted(BAD_INPUT), run.output[-5000:]
    for host, (_bad, message) in BAD_INPUT.items():
        assert message in failures[host]["msg"], (host, failures[host]["msg"])
        assert failures[host]["msg"].endswith("Nothing was changed.")
    tasks = [line for line in run.output.splitlines() if line.startswith("TASK [")]
    assert all(": Preflight | " in line or "Validating arguments" in line for line in tasks), tasks
    assert list(run.root.iterdir()) == []
