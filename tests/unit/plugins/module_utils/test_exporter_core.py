"""The exporters' shared core: the cache, the poller, the HTTP endpoint and the self-metrics,
with targets whose answers the tests control (slow, failing, crashing)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import (
    HTTP_WORKERS,
    Exporter,
    PollError,
    PollResult,
    Target,
    row,
)
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from prometheus_client.parser import text_string_to_metric_families


class Scripted(Target):
    """Answers from ``self.mode``: ok (value = poll number), fail, crash or slow."""

    name = "scripted"

    def __init__(self) -> None:
        self.mode = "ok"
        self.polls = 0
        self.release = threading.Event()

    def poll(self) -> PollResult:
        self.polls += 1
        if self.mode == "fail":
            raise PollError("connect", "refused")
        if self.mode == "crash":
            raise KeyError("surprise")
        if self.mode == "slow":
            self.release.wait(10)
        return PollResult([row("demo_value", "gauge", "demo", {"t": "x"}, self.polls)], [])

    def failure_rows(self, error: PollError) -> list:
        return [row("demo_up", "untyped", "demo", {}, 0)]


def samples(exp: Exporter) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{exp.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def get(found: dict, name: str, **labels: str) -> float:
    values = [s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(values) == 1, (name, labels, found.get(name))
    return values[0]


@pytest.fixture
def running():
    made: list[Exporter] = []

    def start(target: Target, interval: float = 0.1) -> Exporter:
        exp = Exporter("demo", [target], interval=interval, listen_address="127.0.0.1", port=0)
        exp.start()
        made.append(exp)
        return exp

    yield start
    for exp in made:
        exp.stop()


def test_failures_replace_the_series_count_by_reason_and_recover(running):
    target = Scripted()
    exp = running(target)
    assert get(samples(exp), "orchestrator_exporter_last_poll_success", exporter="demo", target="scripted") == 1
    target.mode = "fail"
    wait_for(lambda: "demo_up" in samples(exp), 5, "failure rows served", interval=0.05)
    found = samples(exp)
    assert "demo_value" not in found  # no stale value served as current
    assert get(found, "orchestrator_exporter_poll_errors_total", reason="connect") >= 1
    assert get(found, "orchestrator_exporter_last_poll_success") == 0
    target.mode = "crash"
    wait_for(
        lambda: (
            "internal"
            in {s.labels.get("reason") for s in samples(exp).get("orchestrator_exporter_poll_errors_total", [])}
        ),
        5,
        "a crash counted as internal",
        interval=0.05,
    )
    age_failing = get(samples(exp), "orchestrator_exporter_data_age_seconds")
    target.mode = "ok"
    wait_for(lambda: "demo_value" in samples(exp), 5, "values again after recovery", interval=0.05)
    found = samples(exp)
    assert get(found, "orchestrator_exporter_data_age_seconds") < age_failing + 0.5
    assert get(found, "orchestrator_exporter_polls_total") == target.polls
    assert get(found, "orchestrator_exporter_poll_interval_seconds", exporter="demo") == 0.1


def test_a_slow_poll_never_delays_a_scrape(running):
    target = Scripted()
    exp = running(target, interval=0.05)
    target.mode = "slow"
    wait_for(lambda: target.polls >= 2, 5, "a slow poll under way", interval=0.01)
    try:
        start = time.perf_counter()
        found = samples(exp)
        took = time.perf_counter() - start
        assert get(found, "demo_value", t="x") >= 1  # the last finished poll's value
        assert took < 1.0, took
    finally:
        target.release.set()


def test_threads_stay_bounded_under_many_scrapes_and_end_with_stop():
    before = threading.active_count()
    exp = Exporter("demo", [Scripted()], interval=0.2, listen_address="127.0.0.1", port=0)
    exp.start()
    peak = 0

    def one(_index: int) -> int:
        nonlocal peak
        peak = max(peak, threading.active_count())
        return len(samples(exp))

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(list(pool.map(one, range(200))))
    # ours: poller, accept loop, HTTP_WORKERS; the test's: 16 clients.
    assert peak <= before + 2 + HTTP_WORKERS + 16
    exp.stop()
    wait_for(lambda: threading.active_count() <= before, 5, "the exporter's threads ended", interval=0.05)


def test_unknown_paths_are_404_and_a_taken_port_fails_at_start(running):
    exp = running(Scripted())
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{exp.port}/nope", timeout=5)
    assert err.value.code == 404
    clash = Exporter("demo", [Scripted()], interval=1, listen_address="127.0.0.1", port=exp.port)
    with pytest.raises(OSError):
        clash.start()


def test_counter_rows_must_end_in_total():
    with pytest.raises(ValueError, match="must end in _total"):
        row("demo_events", "counter", "x", {}, 1)
