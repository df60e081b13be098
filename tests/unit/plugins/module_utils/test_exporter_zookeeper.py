"""The ZooKeeper exporter on real captured answers of ZooKeeper 3.8 (data/README.md), served by a
canned 4lw server: dabealu/zookeeper-exporter's names, labels and values, scraped over HTTP and
parsed strictly. The exporter against live JVMs: tests/integration/test_exporters.py."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _exporter_zookeeper as z
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import Exporter
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter_zookeeper import ZkMemberTarget, build
from ansible_collections.orchestrator.platform.plugins.module_utils._zk import parse_mntr
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import FourLetterServer, captured
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def serve() -> Iterator[Callable[[str], Exporter]]:
    exporters: list[Exporter] = []

    def make(hostport: str) -> Exporter:
        exp = build({"targets": [hostport], "port": 0, "listen_address": "127.0.0.1", "interval": 60, "timeout": 2})
        exp.start()
        exporters.append(exp)
        return exp

    yield make
    for exp in exporters:
        exp.stop()


def scrape(exp: Exporter) -> dict:
    """``{family name: family}`` of a real HTTP scrape, parsed strictly."""
    with urllib.request.urlopen(f"http://127.0.0.1:{exp.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def one(families: dict, name: str, **labels: str) -> float:
    """The value of the one sample ``name`` (a sample name: counters end in _total) with ``labels``."""
    samples = [s for f in families.values() for s in f.samples if s.name == name]
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_leader_answer_gives_dabealu_metrics(fourlw: Callable[[dict[str, str]], FourLetterServer], serve):
    srv = fourlw({"mntr": "mntr_leader.txt", "ruok": "ruok_not_serving.txt"})
    families = scrape(serve(srv.hostport))
    host = {"zk_host": srv.hostport}
    assert one(families, "zk_up", **host) == 1
    assert one(families, "zk_server_leader", **host) == 1
    assert one(families, "zk_version", version="3.8.0", **host) == 1
    assert one(families, "zk_ruok", **host) == 1
    assert one(families, "orchestrator_zk_serving", **host) == 1
    mntr = parse_mntr(captured("mntr_leader.txt"))
    for key in (
        "zk_znode_count",
        "zk_synced_followers",
        "zk_outstanding_requests",
        "zk_avg_latency",
        "zk_p99_readlatency",
    ):
        assert one(families, key, **host) == float(mntr[key])
    # Every numeric mntr line is exported under its own name, untyped, as upstream does.
    numeric = {k for k, v in mntr.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numeric <= set(families)
    assert {families[k].type for k in numeric} == {"unknown"}
    assert one(families, "zk_peer_state", state="leading - broadcast", **host) == 1
    assert "zk_server_state" not in families  # made zk_server_leader, as upstream does
    assert srv.seen.count("mntr") == 1 and srv.seen.count("ruok") == 1


def test_follower_has_peer_state_and_no_leader_only_keys(fourlw, serve):
    srv = fourlw({"mntr": "mntr_follower.txt", "ruok": "ruok_not_serving.txt"})
    families = scrape(serve(srv.hostport))
    assert one(families, "zk_server_leader", zk_host=srv.hostport) == 0
    assert one(families, "zk_peer_state", zk_host=srv.hostport, state="following - broadcast") == 1
    assert "zk_synced_followers" not in families


def test_member_without_quorum_is_up_but_not_leader(fourlw, serve):
    srv = fourlw({"mntr": "mntr_not_serving.txt", "ruok": "ruok_not_serving.txt"})
    families = scrape(serve(srv.hostport))
    assert one(families, "zk_up", zk_host=srv.hostport) == 1
    assert one(families, "zk_server_leader", zk_host=srv.hostport) == 0
    assert one(families, "orchestrator_zk_serving", zk_host=srv.hostport) == 0
    assert "zk_znode_count" not in families


def test_mntr_not_whitelisted_is_down_with_its_reason(fourlw, serve):
    srv = fourlw({"mntr": "mntr_not_whitelisted.txt", "ruok": "ruok_not_serving.txt"})
    families = scrape(serve(srv.hostport))
    assert one(families, "zk_up", zk_host=srv.hostport) == 0
    assert one(families, "orchestrator_exporter_poll_errors_total", reason="not_whitelisted") == 1
    assert one(families, "orchestrator_exporter_last_poll_success", target=srv.hostport) == 0


def test_nothing_listening_is_down_and_garbage_is_a_bad_response(fourlw, serve):
    closed = f"127.0.0.1:{free_port()}"
    families = scrape(serve(closed))
    assert one(families, "zk_up", zk_host=closed) == 0
    assert one(families, "orchestrator_exporter_poll_errors_total", reason="connect") == 1
    srv = FourLetterServer({"mntr": "HTTP/1.1 400 Bad Request\r\n\r\n"})
    try:
        families = scrape(serve(srv.hostport))
        assert one(families, "zk_up", zk_host=srv.hostport) == 0
        assert one(families, "orchestrator_exporter_poll_errors_total", reason="bad_response") == 1
    finally:
        srv.close()


def test_odd_mntr_lines_are_skipped_not_fatal():
    class Canned(ZkMemberTarget):
        def poll(self):
            original = z.four_letter_word
            z.four_letter_word = lambda h, p, w, t: (
                "zk_version\t3.8.1-abc\nzk_server_state\tfollower\nzk_weird-key.x\t7\nzk_text\tnot a number\n"
                "noseparator\nzk_{bad}\t1\n"
                if w == "mntr"
                else "imok"
            )
            try:
                return super().poll()
            finally:
                z.four_letter_word = original

    result = Canned("127.0.0.1", 1).poll()
    names = {r.family: r for r in result.rows}
    assert names["zk_weird_key_x"].value == 7  # dabealu's - . , -> _
    assert "zk_text" not in names and "zk_{bad}" not in names
    assert names["zk_version"].labels["version"] == "3.8.1"
