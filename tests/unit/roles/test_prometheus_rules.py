"""The collection's Prometheus alerting rules (roles/prometheus/files/rules/*.yml), checked by the
real ``/usr/bin/promtool`` and held to their contract.

- ``promtool check rules`` accepts every rule file, and ``promtool test rules`` passes every test
  file in tests/unit/roles/prometheus_rules/ (the failure shows promtool's own output).
- Every alert has, in its area's test file, a case that fires it and a case where it must stay
  silent; no test names an alert that does not exist (promtool would pass a silent case for a
  misspelt alert name).
- The silent cases are not silent by accident (series promtool never matches, an evaluation
  before anything happened): with every ``for:`` set to 0 each alert's silent cases must fail,
  i.e. at the moments they check the expression is true and only ``for:`` keeps the alert
  pending (a normal leader election, one missed scrape, a short burst).
- The ZooKeeper rules, on what the collection's real exporter reports of a real three-member
  ensemble (tests/fixtures/zk_ensemble.py), healthy, with one and with two members stopped, and
  the Mesos rules on what its Mesos exporter reports of three masters of the Mesos double
  (tests/support/mesos_cluster.py) through a failover and with every master stopped, give
  exactly the alerts expected.
- Every alert carries ``severity`` (page|ticket), ``component``, ``summary`` and ``description``
  naming ``{{ $labels.instance }}``, and a ``runbook`` whose anchor is a heading of
  docs/monitoring/alerts.md.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import Exporter
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter_mesos import build as build_mesos_exporter
from ansible_collections.orchestrator.platform.plugins.module_utils._exporter_zookeeper import ZkMemberTarget
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.mesos_cluster import Cluster as MesosCluster
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[3]
RULES_DIR = REPO / "roles" / "prometheus" / "files" / "rules"
TESTS_DIR = Path(__file__).resolve().parent / "prometheus_rules"
ALERTS_DOC = REPO / "docs" / "monitoring" / "alerts.md"
PROMTOOL = "/usr/bin/promtool"
AREAS = ("zookeeper", "mesos", "marathon", "hosts", "zk_sync")
COMPONENTS = {"zookeeper", "mesos", "marathon", "host", "zk_sync"}
RUNBOOK_PREFIX = "docs/monitoring/alerts.md#"


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def unit_test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*_test.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alerts_of(path: Path) -> list[dict[str, Any]]:
    return [rule for group in load(path)["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail(f"{PROMTOOL} is missing: install the Debian package prometheus (tools/setup does)")
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the Markdown headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def cases(test_file: Path) -> list[tuple[str, bool]]:
    """(alertname, expects alerts) for every alert_rule_test of a promtool test file."""
    out = []
    for test in load(test_file)["tests"]:
        for case in test.get("alert_rule_test", []):
            out.append((case["alertname"], bool(case.get("exp_alerts"))))
    return out


def test_the_areas_have_rule_and_test_files() -> None:
    assert [p.stem for p in rule_files()] == sorted(AREAS)
    assert [p.name for p in unit_test_files()] == sorted(f"{area}_test.yml" for area in AREAS)
    for area in AREAS:
        listed = load(TESTS_DIR / f"{area}_test.yml")["rule_files"]
        resolved = [(TESTS_DIR / name).resolve() for name in listed]
        assert resolved == [RULES_DIR / f"{area}.yml"], f"{area}_test.yml must test {area}.yml only"


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts_of(path))} rules found" in result.stdout, result.stdout


@pytest.mark.parametrize("path", unit_test_files(), ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    result = promtool("test", "rules", path.name, cwd=TESTS_DIR)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """A wrong expectation makes promtool (and so the test above) fail: the harness can fail."""
    test = load(TESTS_DIR / "zookeeper_test.yml")
    test["rule_files"] = [str(RULES_DIR / "zookeeper.yml")]
    firing = next(c for t in test["tests"] for c in t["alert_rule_test"] if c.get("exp_alerts"))
    firing["exp_alerts"] = []
    broken = tmp_path / "broken_test.yml"
    broken.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool("test", "rules", str(broken))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "FAILED" in output, output


@pytest.mark.parametrize("area", AREAS)
def test_every_alert_fires_and_stays_silent(area: str) -> None:
    names = [rule["alert"] for rule in alerts_of(RULES_DIR / f"{area}.yml")]
    found = cases(TESTS_DIR / f"{area}_test.yml")
    unknown = sorted({name for name, _fires in found} - set(names))
    assert not unknown, f"{area}_test.yml tests alerts that {area}.yml does not define: {unknown}"
    for name in names:
        assert (name, True) in found, f"{name}: no case in {area}_test.yml where it fires"
        assert (name, False) in found, f"{name}: no case in {area}_test.yml where it must stay silent"


@pytest.mark.parametrize("area", AREAS)
def test_silent_cases_rely_on_for(area: str, tmp_path: Path) -> None:
    rules = load(RULES_DIR / f"{area}.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    mutated_rules = tmp_path / f"{area}.yml"
    mutated_rules.write_text(yaml.safe_dump(rules), encoding="utf-8")

    test = load(TESTS_DIR / f"{area}_test.yml")
    test["rule_files"] = [str(mutated_rules)]
    for unit in test["tests"]:
        unit["alert_rule_test"] = [c for c in unit.get("alert_rule_test", []) if not c.get("exp_alerts")]
        unit.pop("promql_expr_test", None)
    silent_only = tmp_path / f"{area}_silent_test.yml"
    silent_only.write_text(yaml.safe_dump(test), encoding="utf-8")

    result = promtool("test", "rules", str(silent_only))
    output = result.stdout + result.stderr
    failed = set(re.findall(r"alertname: (\w+), time:", output))
    names = {rule["alert"] for rule in alerts_of(RULES_DIR / f"{area}.yml")}
    assert result.returncode != 0, output
    assert names <= failed, (
        f"without 'for:' these alerts still pass every silent case, so no silent case catches the "
        f"condition while it is pending: {sorted(names - failed)}\n{output}"
    )


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_labels_annotations_and_runbooks(path: Path) -> None:
    anchors = heading_anchors(ALERTS_DOC.read_text(encoding="utf-8"))
    for rule in alerts_of(path):
        name = rule["alert"]
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])) and not str(rule["for"]).startswith("0"), name
        assert rule["labels"].get("severity") in {"page", "ticket"}, name
        assert rule["labels"].get("component") in COMPONENTS, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, name
        for key in ("summary", "description"):
            assert "{{ $labels.instance }}" in annotations[key], f"{name}: {key} must name the instance"
        runbook = annotations["runbook"]
        assert runbook == RUNBOOK_PREFIX + name.lower(), f"{name}: runbook {runbook}"
        assert runbook.removeprefix(RUNBOOK_PREFIX) in anchors, f"{name}: no heading {name} in {ALERTS_DOC.name}"


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for path in rule_files() for rule in alerts_of(path)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_heading_anchors() -> None:
    assert heading_anchors("## ZookeeperNoLeader\n### What's this, then?\ntext # no") == {
        "zookeepernoleader",
        "whats-this-then",
    }


def test_promtool_is_the_real_one() -> None:
    result = promtool("--version")
    assert result.returncode == 0 and "promtool, version 2." in (result.stdout + result.stderr)


# ---- The rules on what the collection's real exporters say of real ensembles and masters -----


def exporter_series(exporter: Any, job: str, instance: str) -> list[dict[str, str]]:
    """promtool input series (constant for 10 minutes) of one exporter after one poll, as
    Prometheus stores a scrape of it: the exposition's samples plus job, instance and up."""
    exporter.poll_once()
    text = exporter.render().decode()
    series = [{"series": f'up{{job="{job}", instance="{instance}"}}', "values": "1x40"}]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {**sample.labels, "job": job, "instance": instance}
            body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append({"series": f"{sample.name}{{{body}}}", "values": f"{sample.value:g}x40"})
    return series


def zk_series(member: Any, instance: str) -> list[dict[str, str]]:
    target = ZkMemberTarget(member.host, member.client_port, 2.0)
    return exporter_series(Exporter("zookeeper", [target], listen_address="127.0.0.1", port=0), "zookeeper", instance)


def mesos_series(master: Any, instance: str) -> list[dict[str, str]]:
    exporter = build_mesos_exporter(
        {"master": f"http://{master.hostport}", "port": 0, "listen_address": "127.0.0.1", "timeout": 2}
    )
    return exporter_series(exporter, "mesos", instance)


def check_alerts(tmp_path: Path, area: str, name: str, series: list[dict[str, str]], expected: dict) -> None:
    """promtool evaluates an area's rules (annotations left out) on the series at 10m and must
    find exactly the expected alerts: {alertname: [labels of each alert beyond the rule's]}."""
    rules = load(RULES_DIR / f"{area}.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["annotations"] = {}
    (tmp_path / f"{area}.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    alert_tests = []
    for rule in alerts_of(RULES_DIR / f"{area}.yml"):
        exp = [{"exp_labels": {**rule["labels"], **labels}} for labels in expected.get(rule["alert"], [])]
        alert_tests.append({"eval_time": "10m", "alertname": rule["alert"], "exp_alerts": exp})
    test = {
        "rule_files": [str(tmp_path / f"{area}.yml")],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": series, "alert_rule_test": alert_tests}],
    }
    path = tmp_path / f"{name}_test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


@pytest.mark.slow
def test_zookeeper_rules_on_the_real_exporter_of_a_real_ensemble(tmp_path: Path) -> None:
    """Healthy: no alert. One member stopped: only ZookeeperMemberDown. Two stopped: the last one
    answers "not currently serving": ZookeeperQuorumLost on every member, ZookeeperNoLeader on it."""
    ensemble = ZkEnsemble(size=3, name="zk-rules")
    names = ["zk1", "zk2", "zk3"]
    try:
        ensemble.start(timeout=90)
        members = ensemble.members
        zk_host = members[0].hostport

        def scrape() -> list[dict[str, str]]:
            return [s for n, m in zip(names, members, strict=True) for s in zk_series(m, n)]

        def job(**labels: str) -> dict[str, str]:
            return {"job": "zookeeper", **labels}

        check_alerts(tmp_path, "zookeeper", "healthy", scrape(), {})

        members[2].stop()
        wait_for(lambda: all(m.mode() is not None for m in members[:2]), 60, "two members serving without zk3")
        check_alerts(tmp_path, "zookeeper", "one_down", scrape(), {"ZookeeperMemberDown": [job(instance="zk3")]})

        members[1].stop()
        wait_for(lambda: members[0].mode() is None, 60, "zk1 no longer serving")
        expected = {
            "ZookeeperMemberDown": [job(instance="zk2"), job(instance="zk3")],
            "ZookeeperQuorumLost": [job(instance=n) for n in names],
            "ZookeeperNoLeader": [job(instance="zk1", zk_host=zk_host)],
        }
        check_alerts(tmp_path, "zookeeper", "two_down", scrape(), expected)
    finally:
        ensemble.stop()


@pytest.mark.slow
def test_mesos_rules_on_the_real_exporter_of_the_mesos_double(tmp_path: Path) -> None:
    """Three masters of the Mesos double on a real ZooKeeper: a leader, no alert; the leader
    killed and another elected, no alert; every master stopped, MesosNoLeader on each."""
    ensemble = ZkEnsemble(size=1, name="zk-mesos-rules")
    cluster = None
    names = ["m1", "m2", "m3"]
    try:
        ensemble.start(timeout=60)
        cluster = MesosCluster(ensemble.connect_string, tmp_path / "mesos", masters=3)
        cluster.start_masters()
        masters = cluster.masters

        def scrape() -> list[dict[str, str]]:
            return [s for n, m in zip(names, masters, strict=True) for s in mesos_series(m, n)]

        check_alerts(tmp_path, "mesos", "healthy", scrape(), {})

        first = cluster.wait_leader()
        first.kill()
        second = cluster.wait_leader()
        assert second is not first
        check_alerts(tmp_path, "mesos", "failover", scrape(), {})

        for master in masters:
            master.stop()
        expected = {"MesosNoLeader": [{"job": "mesos", "instance": n} for n in names]}
        check_alerts(tmp_path, "mesos", "no_master", scrape(), expected)
    finally:
        if cluster is not None:
            cluster.stop()
        ensemble.stop()
