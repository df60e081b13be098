"""Monitoring in the lab, asked from outside: Prometheus on the monitoring host scrapes every
exporter, and an outage pages through Alertmanager while a normal failover does not.

Prometheus, Alertmanager and the blackbox exporter are Debian's real packages (inventory groups
prometheus, alertmanager, blackbox_exporter: lab-mon1); node_exporter runs on every host, the
collection's own ZooKeeper and Mesos exporters on the ZooKeeper and Mesos hosts. Mesos and
Marathon in the lab are the project's PROTOCOL DOUBLES (doubles/), scraped as the real ones
would be. Alertmanager notifies a webhook receiver this check runs on the docker bridge's
gateway address (inventories/lab/group_vars/monitoring.yml). Numbers go to
$MOLECULE_EPHEMERAL_DIRECTORY/monitoring.json.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support.grafana_dashboards import queries, substitute
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from lab_inventory import AGENTS, MASTERS, ZOOKEEPERS, all_hosts, group_hosts, group_vars
from mesos_checks import elected_masters
from scenario_helpers import REPO_ROOT, changed_counts, container_ip, docker_exec, run_playbook, save_results
from zk_checks import mode_of

PLAYBOOK = REPO_ROOT / "playbooks" / "monitoring.yml"
PROMETHEUS = group_hosts("prometheus")[0]
PROMETHEUS_PORT = 9090
ZK_EXPORTER_PORT = 9141
MESOS_EXPORTER_PORT = 9105
WEBHOOK_PORT = int(group_vars("all")["lab_alert_webhook_port"])
MARATHONS = group_hosts("marathon")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def get_json(url: str, timeout: float = 5.0) -> Any:
    with DIRECT.open(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def prom_api(ip: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    body = get_json(f"http://{ip}:{PROMETHEUS_PORT}/api/v1/{path}{query}")
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture(scope="module")
def prom_ip() -> str:
    return container_ip(PROMETHEUS)


def test_prometheus_scrapes_every_exporter_and_all_are_up(prom_ip: str) -> None:
    expected = {
        "node": set(all_hosts()),
        "zookeeper": set(ZOOKEEPERS),
        "mesos": set(MASTERS + AGENTS),
        "marathon": set(MARATHONS),
        "prometheus": {PROMETHEUS},
        "alertmanager": set(group_hosts("alertmanager")),
    }
    # one probe per ZooKeeper member (zk_ruok), Mesos master and agent (/health), Marathon (/ping)
    probes = len(ZOOKEEPERS) + len(MASTERS) + len(AGENTS) + len(MARATHONS)

    def targets() -> list[dict]:
        return prom_api(prom_ip, "targets", state="active")["activeTargets"]

    def all_up() -> bool:
        found = targets()
        return len(found) == sum(map(len, expected.values())) + probes and all(t["health"] == "up" for t in found)

    try:
        wait_for(all_up, 90, "every scrape target up", interval=1.0)
    finally:
        found = targets()
        down = [(t["labels"].get("job"), t["labels"].get("instance"), t.get("lastError")) for t in found]
        print(f"\n{len(found)} targets; not up: {[d for d, t in zip(down, found, strict=True) if t['health'] != 'up']}")
    by_job: dict[str, set[str]] = {}
    blackbox: set[tuple[str, str]] = set()
    for t in targets():
        if t["labels"]["job"] == "blackbox":  # a host may be probed twice (Mesos master and Marathon)
            blackbox.add((t["labels"]["module"], t["labels"]["instance"]))
        else:
            by_job.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
    assert by_job == expected
    assert blackbox == {("zk_ruok", h) for h in ZOOKEEPERS} | {("mesos_health", h) for h in MASTERS + AGENTS} | {
        ("marathon_ping", h) for h in MARATHONS
    }
    # Every probe succeeds (the blackbox exporter answered, and so did what it probed).
    failing = prom_api(prom_ip, "query", query='probe_success{job="blackbox"} != 1')["result"]
    assert failing == [], failing
    # The collection's exporters report their own polls as successful.
    leaders = prom_api(prom_ip, "query", query='sum(zk_server_leader{job="zookeeper"})')["result"]
    assert leaders and float(leaders[0]["value"][1]) == 1.0, leaders
    elected = prom_api(prom_ip, "query", query='sum(mesos_master_elected{job="mesos"})')["result"]
    assert elected and float(elected[0]["value"][1]) == 1.0, elected


def test_every_dashboard_query_returns_series_from_the_lab(prom_ip: str) -> None:
    """Each Grafana dashboard's query (and variable selector), with "All" selected, asked of the
    lab's real Prometheus: a panel on a metric nothing exports would show "No data" forever.
    The zk_sync panels are left out (their own row): the lab runs no zk_sync service."""
    asked, empty = 0, []
    for where, expr, _kind in queries():
        if "zk_sync" in expr:
            continue
        query = substitute(expr, ".*")
        asked += 1
        if not prom_api(prom_ip, "query", query=query)["result"]:
            empty.append(f"{where}: {query}")
    print(f"\n{asked} dashboard queries asked, {len(empty)} without series")
    assert asked >= 40, asked
    assert empty == [], "\n".join(empty)


def test_own_exporters_answer_scrapes_from_their_cache() -> None:
    """Every exporter answers 100 scrapes in a row; the p99 is printed and saved (the issue's
    number), only the answers are asserted."""
    hosts = {name: ZK_EXPORTER_PORT for name in ZOOKEEPERS}
    hosts |= {name: MESOS_EXPORTER_PORT for name in MASTERS + AGENTS}
    times: list[float] = []
    for name, port in hosts.items():
        url = f"http://{container_ip(name)}:{port}/metrics"
        for _i in range(100):
            start = time.perf_counter()
            with DIRECT.open(url, timeout=5) as resp:
                body = resp.read()
                assert resp.status == 200
            times.append(time.perf_counter() - start)
        assert b"orchestrator_exporter_" in body, body[:500]
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
    print(f"\nexporter scrapes: {len(times)} on {len(hosts)} exporters, p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms")
    save_results("monitoring_scrapes.json", {"scrapes": len(times), "p50_ms": p50 * 1000, "p99_ms": p99 * 1000})


# What a --check run or a refused run must leave alone: the files the monitoring roles write and
# the processes they run, on a ZooKeeper host, a Mesos master and the monitoring host.
WATCHED = {
    ZOOKEEPERS[0]: (
        ["/etc/orchestrator-exporters/zookeeper.json", "/etc/default/prometheus-node-exporter"],
        ["orchestrator-exporter@zookeeper", "prometheus-node-exporter"],
    ),
    MASTERS[0]: (["/etc/orchestrator-exporters/mesos.json"], ["orchestrator-exporter@mesos"]),
    PROMETHEUS: (
        [
            "/etc/prometheus/prometheus.yml",
            "/etc/prometheus/alertmanager.yml",
            "/etc/prometheus/blackbox.yml",
            "/etc/default/prometheus",
            "/etc/default/prometheus-alertmanager",
        ],
        ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
    ),
}
CHANGED_SETTINGS = {
    "exporters_interval": 30,
    "node_exporter_collectors_disabled": ["arp"],
    "blackbox_exporter_probe_timeout": "4s",
    "alertmanager_resolve_timeout": "6m",
    "prometheus_retention_time": "2d",
}


def monitoring_state() -> dict[str, str]:
    state = {}
    for host, (files, units) in WATCHED.items():
        state[host] = docker_exec(
            host,
            f"sha256sum {' '.join(files)}; "
            + "; ".join(f"systemctl show -p MainPID -p ExecMainStartTimestamp {u}" for u in units),
        )
    return state


def test_check_mode_and_refused_input_change_nothing() -> None:
    """Changed settings under --check predict changes and make none; a refused setting fails in
    the preflight before anything is written or restarted (checksums and PIDs compared)."""
    before = monitoring_state()
    limit = ",".join(WATCHED)
    check = run_playbook(PLAYBOOK, "--check", "--diff", "--limit", limit, "-e", json.dumps(CHANGED_SETTINGS))
    assert check.returncode == 0, check.stdout[-4000:]
    changed = changed_counts(check.stdout)
    assert all(changed.get(host, 0) > 0 for host in WATCHED), changed
    assert monitoring_state() == before
    # On the monitoring host alone: the plays before Prometheus's have nothing to change there.
    refused = run_playbook(PLAYBOOK, "--limit", PROMETHEUS, "-e", json.dumps({"prometheus_retention_time": "forever"}))
    assert refused.returncode != 0
    assert "prometheus_retention_time=forever" in refused.stdout, refused.stdout[-3000:]
    assert monitoring_state() == before


class Webhook(http.server.ThreadingHTTPServer):
    """Alertmanager's webhook receiver: keeps every notification with the time it arrived."""

    def __init__(self, address: str, port: int) -> None:
        self.received: list[tuple[float, dict]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((address, port), Handler)

    def alerts(self, name: str, status: str) -> list[tuple[float, dict]]:
        return [
            (at, alert)
            for at, note in list(self.received)
            for alert in note.get("alerts", [])
            if alert["labels"].get("alertname") == name and alert["status"] == status
        ]


def docker_gateway() -> str:
    """The default bridge's address on this machine: what host.docker.internal names in the lab."""
    cmd = ["ip", "-4", "-o", "addr", "show", "dev", "docker0"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout.split()[3].split("/")[0]


@pytest.mark.disruptive
def test_member_down_pages_and_resolves_while_a_mesos_failover_stays_silent(
    prom_ip: str, zk_ips: dict[str, str], mesos_ips: dict[str, str]
) -> None:
    hook = Webhook(docker_gateway(), WEBHOOK_PORT)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    member = next(name for name in ZOOKEEPERS if mode_of(zk_ips[name]) == "follower")
    old_leader = elected_masters(mesos_ips)[0]
    no_leader_seen: list[Any] = []
    stop = threading.Event()

    def watch_mesos_alert() -> None:  # Prometheus's own view, every second
        while not stop.is_set():
            try:
                found = prom_api(prom_ip, "query", query='ALERTS{alertname="MesosNoLeader",alertstate="firing"}')
            except OSError:
                found = {"result": []}
            no_leader_seen.extend(found["result"])
            stop.wait(1.0)

    watcher = threading.Thread(target=watch_mesos_alert, daemon=True)
    watcher.start()
    numbers: dict[str, float | str] = {"member": member, "mesos_leader_killed": old_leader}
    try:
        stopped_at = time.monotonic()
        docker_exec(member, "systemctl stop zookeeper")
        docker_exec(old_leader, "systemctl kill -s KILL mesos-master")  # Restart=always brings it back

        def new_mesos_leader() -> bool:
            return len(elected_masters(mesos_ips)) == 1 and elected_masters(mesos_ips)[0] != old_leader

        wait_for(new_mesos_leader, 90, "a new Mesos leader after the kill", interval=0.5)
        numbers["mesos_new_leader_s"] = round(time.monotonic() - stopped_at, 1)

        def paged() -> bool:
            return any(a["labels"].get("instance") == member for _t, a in hook.alerts("ZookeeperMemberDown", "firing"))

        wait_for(paged, 300, f"ZookeeperMemberDown for {member} at the webhook", interval=1.0)
        numbers["member_down_to_page_s"] = round(time.monotonic() - stopped_at, 1)
    finally:
        started_at = time.monotonic()
        docker_exec(member, "systemctl start zookeeper")

    def resolved() -> bool:
        return any(a["labels"].get("instance") == member for _t, a in hook.alerts("ZookeeperMemberDown", "resolved"))

    try:
        wait_for(resolved, 180, f"the resolved ZookeeperMemberDown for {member}", interval=1.0)
        numbers["member_back_to_resolved_s"] = round(time.monotonic() - started_at, 1)
        wait_for(lambda: mode_of(zk_ips[member]) == "follower", 60, f"{member} back as a follower")
    finally:
        stop.set()
        watcher.join(timeout=10)
        hook.shutdown()
        hook.server_close()
    save_results("monitoring.json", numbers)
    print(f"\nmonitoring: {numbers}")
    assert no_leader_seen == [], no_leader_seen
    assert hook.alerts("MesosNoLeader", "firing") == []
