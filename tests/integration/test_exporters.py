"""The collection's own exporters against real servers: a 3-JVM ZooKeeper 3.8 ensemble and the
Mesos protocol double (three masters electing through that ZooKeeper, two agents). The exporters
role itself is converged by the lab (molecule/lab: every ZooKeeper and Mesos host, a second run
changing nothing, check mode changing nothing: tests/test_monitoring.py); a separate systemd
container here cost four minutes of the suite for the same proof.

Each exporter runs in-process on a free port with a short poll interval; scrapes go through a
real HTTP client and are parsed strictly by prometheus-client's own parser. The ensemble is this
module's own (tests stop members), the Mesos cluster uses it too.
"""

from __future__ import annotations

import statistics
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _exporter_mesos, _exporter_zookeeper
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import Exporter
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.mesos_cluster import Cluster
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from ansible_collections.orchestrator.platform.tests.support.zk_client import kazoo_client
from prometheus_client.parser import text_string_to_metric_families

INTERVAL = 0.5
REPO = Path(__file__).resolve().parents[2]
AGENT_RESOURCES = "cpus:2;mem:1024;disk:2048;ports:[31000-31099]"


def scrape(exporter: Exporter) -> tuple[dict, float]:
    """``({sample name: [(labels, value)]}, seconds)`` of one real HTTP scrape, parsed strictly."""
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    took = time.perf_counter() - start
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples, took


def value(samples: dict, name: str, **labels: str) -> float:
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.fixture(scope="module")
def ensemble() -> Iterator[ZkEnsemble]:
    ens = ZkEnsemble(size=3, name="zkexp")
    try:
        ens.start()
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="module")
def zk_exporters(ensemble: ZkEnsemble) -> Iterator[list[Exporter]]:
    """One exporter per member, each asking its own member (as on the hosts)."""
    exporters = [
        _exporter_zookeeper.build(
            {"targets": [m.hostport], "port": 0, "interval": INTERVAL, "timeout": 0.4, "listen_address": "127.0.0.1"}
        )
        for m in ensemble.members
    ]
    for exp in exporters:
        exp.start()
    try:
        yield exporters
    finally:
        for exp in exporters:
            exp.stop()


def test_zookeeper_leader_followers_and_growing_znode_count(ensemble: ZkEnsemble, zk_exporters: list[Exporter]):
    ensemble.wait_for_quorum(30)
    leader = ensemble.leader()
    scrapes = [scrape(exp)[0] for exp in zk_exporters]
    leaders = [value(s, "zk_server_leader", zk_host=m.hostport) for s, m in zip(scrapes, ensemble.members, strict=True)]
    assert sum(leaders) == 1
    assert leaders[ensemble.members.index(leader)] == 1
    for s, m in zip(scrapes, ensemble.members, strict=True):
        assert value(s, "zk_up", zk_host=m.hostport) == 1
        assert value(s, "zk_ruok", zk_host=m.hostport) == 1
        assert value(s, "zk_version", zk_host=m.hostport, version="3.8.0") == 1
        assert value(s, "orchestrator_exporter_last_poll_success", exporter="zookeeper", target=m.hostport) == 1
    leader_scrape = scrapes[ensemble.members.index(leader)]
    assert value(leader_scrape, "zk_synced_followers", zk_host=leader.hostport) == 2
    assert value(leader_scrape, "zk_quorum_size", zk_host=leader.hostport) == 3
    for s, m in zip(scrapes, ensemble.members, strict=True):
        if m is not leader:
            assert value(s, "zk_peer_state", zk_host=m.hostport, state="following - broadcast") == 1
            assert "zk_synced_followers" not in s
    before = value(leader_scrape, "zk_znode_count", zk_host=leader.hostport)
    base = f"/exporter-{uuid.uuid4().hex[:8]}"
    with kazoo_client(ensemble.connect_string) as client:
        for i in range(5):
            client.create(f"{base}/n{i}", b"x", makepath=True)
    exporter = zk_exporters[ensemble.members.index(leader)]
    wait_for(
        lambda: value(scrape(exporter)[0], "zk_znode_count", zk_host=leader.hostport) >= before + 6,
        10,
        "znode count grows by 6 on the leader's exporter",
        interval=0.1,
    )


def test_zookeeper_member_stopped_reports_down_and_scrapes_still_answer(
    ensemble: ZkEnsemble, zk_exporters: list[Exporter]
):
    ensemble.wait_for_quorum(30)
    victim = ensemble.followers()[0]
    exporter = zk_exporters[ensemble.members.index(victim)]
    errors_before = sum(v for _lab, v in scrape(exporter)[0].get("orchestrator_exporter_poll_errors_total", []))
    victim.kill()
    try:
        wait_for(
            lambda: value(scrape(exporter)[0], "zk_up", zk_host=victim.hostport) == 0,
            10,
            "zk_up 0 for the stopped member",
            interval=0.1,
        )
        samples, took = scrape(exporter)
        assert took < 1.0
        assert (
            value(samples, "orchestrator_exporter_last_poll_success", exporter="zookeeper", target=victim.hostport) == 0
        )
        errors = samples["orchestrator_exporter_poll_errors_total"]
        assert sum(v for _lab, v in errors) > errors_before
        assert {lab["reason"] for lab, _v in errors} == {"connect"}
        # No stale mntr values: the member's leadership and counts are gone with it.
        assert "zk_server_leader" not in samples and "zk_znode_count" not in samples
        # The others still see one leader.
        others = [scrape(e)[0] for e, m in zip(zk_exporters, ensemble.members, strict=True) if m is not victim]
        assert sum(sum(v for _lab, v in s["zk_server_leader"]) for s in others) == 1
    finally:
        victim.start()
        ensemble.wait_for_quorum(60)
    wait_for(
        lambda: value(scrape(exporter)[0], "zk_up", zk_host=victim.hostport) == 1,
        20,
        "zk_up 1 again after the member is back",
        interval=0.1,
    )


def test_zookeeper_without_quorum_no_member_claims_leadership(ensemble: ZkEnsemble, zk_exporters: list[Exporter]):
    ensemble.wait_for_quorum(30)
    followers = ensemble.followers()
    leader = ensemble.leader()
    survivor = followers[1]
    exporter = zk_exporters[ensemble.members.index(survivor)]
    leader.kill()
    followers[0].kill()
    try:

        def not_serving() -> bool:
            s = scrape(exporter)[0]
            return value(s, "orchestrator_zk_serving", zk_host=survivor.hostport) == 0

        wait_for(not_serving, 20, "the lone member reports not serving", interval=0.1)
        samples = scrape(exporter)[0]
        assert value(samples, "zk_up", zk_host=survivor.hostport) == 1
        assert value(samples, "zk_server_leader", zk_host=survivor.hostport) == 0
    finally:
        leader.start()
        followers[0].start()
        ensemble.wait_for_quorum(60)


def test_scrape_latency_under_200_scrapes(zk_exporters: list[Exporter]):
    """Scrapes are served from the cache: printed, not asserted (the machine is shared)."""
    exporter = zk_exporters[0]
    sequential = [scrape(exporter)[1] for _i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda _i: scrape(exporter)[1], range(200)))
    for what, durations in (("1 client", sequential), ("8 clients", parallel)):
        p99 = statistics.quantiles(durations, n=100)[98]
        print(
            f"zookeeper exporter, 200 scrapes, {what}: p50 {statistics.median(durations) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {max(durations) * 1000:.1f} ms"
        )
    assert len(sequential) == len(parallel) == 200
    assert value(scrape(exporter)[0], "zk_up", zk_host=exporter.targets[0].name) == 1


# ---- Mesos -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesos(ensemble: ZkEnsemble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(
        ensemble.connect_string, tmp_path_factory.mktemp("mesos-exp"), zk_path=f"/mesos-exp-{uuid.uuid4().hex[:8]}"
    )
    try:
        c.start_masters()
        for _index in range(2):
            c.wait_agent(c.add_agent(AGENT_RESOURCES, containerizers="mesos"))
        yield c
    finally:
        c.stop()


def mesos_exporter(master: str | None, agent: str | None) -> Exporter:
    exp = _exporter_mesos.build(
        {
            "master": master,
            "agent": agent,
            "port": 0,
            "interval": INTERVAL,
            "timeout": 0.4,
            "listen_address": "127.0.0.1",
        }
    )
    exp.start()
    return exp


def test_mesos_leader_standbys_and_agents(mesos: Cluster):
    leader = mesos.wait_leader()
    # Host 0 runs master 0 and agent 0 (one process exports both); the others a master only.
    exporters = [
        mesos_exporter(f"http://{m.hostport}", f"http://{mesos.agents[0].hostport}" if i == 0 else None)
        for i, m in enumerate(mesos.masters)
    ]
    try:
        scrapes = [scrape(e)[0] for e in exporters]
        elected = [value(s, "mesos_master_elected") for s in scrapes]
        assert elected == [1.0 if m is leader else 0.0 for m in mesos.masters]
        ls = scrapes[mesos.masters.index(leader)]
        assert value(ls, "mesos_master_slaves_state", state="connected_active") == 2
        assert value(ls, "mesos_master_cpus", type="total") == 4
        assert value(ls, "mesos_master_mem", type="free") == 2048
        # master_state.go's per-agent series, from the leader's /state only.
        per_agent = ls["mesos_slave_cpus"]
        assert sorted(v for lab, v in per_agent if "slave" in lab) == [2.0, 2.0]
        assert sorted(v for _lab, v in ls["mesos_slave_ports"]) == [100.0, 100.0]
        for s, m in zip(scrapes, mesos.masters, strict=True):
            if m is not leader:
                assert not [lab for lab, _v in s.get("mesos_slave_cpus", []) if "slave" in lab]
        host0 = scrapes[0]
        assert value(host0, "mesos_slave_registered") == 1
        assert value(host0, "mesos_slave_cpus", type="total") == 2
        assert value(host0, "orchestrator_exporter_last_poll_success", exporter="mesos", target="agent") == 1
        assert value(host0, "orchestrator_exporter_last_poll_success", exporter="mesos", target="master") == 1
        assert value(host0, "mesos_collector_errors_total") == 0
    finally:
        for e in exporters:
            e.stop()


def test_mesos_agent_stopped_counts_errors_and_keeps_answering(mesos: Cluster):
    agent = mesos.agents[1]
    exporter = mesos_exporter(None, f"http://{agent.hostport}")
    try:
        assert value(scrape(exporter)[0], "mesos_slave_registered") == 1
        agent.stop()
        wait_for(
            lambda: value(scrape(exporter)[0], "orchestrator_exporter_last_poll_success", target="agent") == 0,
            10,
            "the agent's poll fails",
            interval=0.1,
        )
        samples, took = scrape(exporter)
        assert took < 1.0
        assert "mesos_slave_registered" not in samples
        assert value(samples, "mesos_collector_errors_total") >= 1
        assert value(samples, "orchestrator_exporter_poll_errors_total", target="agent", reason="connect") >= 1
    finally:
        exporter.stop()
        agent.start()
        mesos.wait_agent(agent)
