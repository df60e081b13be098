"""Rolling restarts and the rolling upgrade, watched from outside.

A poller asks every master for /metrics/snapshot (master/elected) every 100 ms while:
  1. a converge changes the agents' resources: both agents restart one at a time, each with
     meta/slaves/latest removed first (new agent ids, no "Incompatible agent info");
  2. a converge changes a flag that is not resources/attributes on agents and masters: the
     agents keep their ids (latest kept), the masters restart one at a time, the leader last;
  3. playbooks/mesos_rolling_upgrade.yml with the scenario's own settings, which puts everything
     back: masters one by one (leader last), agents drained with maintenance (schedule, down,
     upgrade, up), one at a time; their resources return to the scenario's, so they come back
     with new ids (the upgrade drops the checkpointed identity as a converge does).
(A fourth phase, a converge back after an upgrade with unchanged resources, cost 2-3 minutes
of the suite for what phase 2 already shows of the identity kept: the upgrade now does the
putting back.)
Asserts: never two leaders; at most one leaderless window per phase that restarts the leader
(one election at a time), each short; both agents registered and active after each phase.
Numbers are saved to $MOLECULE_EPHEMERAL_DIRECTORY/mesos_rolling.json.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from mesos_checks import (
    AGENTS,
    MASTER_PORT,
    MASTERS,
    PLAYBOOK,
    REFUSED,
    UPGRADE_PLAYBOOK,
    http_json,
    leader_state,
)
from scenario_helpers import changed_counts, run_playbook, save_results

MAX_LEADERLESS_S = 30.0
# One poll asks three masters with a 1 s timeout each: a longer gap means the poller stalled,
# and a phase it did not watch proves nothing.
MAX_SAMPLE_GAP_S = 10.0


class Poller(threading.Thread):
    def __init__(self, ips: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.ips = ips
        self.stop_event = threading.Event()
        self.samples: list[tuple[float, list[str], list[str], list[str]]] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            leaders, down, unknown = [], [], []
            for name in MASTERS:
                status, metrics = http_json(f"http://{self.ips[name]}:{MASTER_PORT}/metrics/snapshot", timeout=1.0)
                if status == REFUSED:
                    down.append(name)
                elif status != 200 or not metrics:
                    unknown.append(name)  # slow answer or restarting: neither up nor down
                elif metrics.get("master/elected") == 1:
                    leaders.append(name)
            self.samples.append((now, leaders, down, unknown))
            time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))


def analyse(samples, start: float, end: float) -> dict:
    window = [s for s in samples if start <= s[0] <= end]
    times = [start] + [s[0] for s in window] + [end]
    windows, longest, since = 0, 0.0, None
    max_leaders = max_down = 0
    went_down = set()
    for t, leaders, down, unknown in window:
        max_leaders = max(max_leaders, len(leaders))
        max_down = max(max_down, len(down))
        went_down.update(down)
        if unknown and not leaders:
            continue  # a master that did not answer may be the leader: not evidence of no leader
        if leaders:
            if since is not None:
                longest = max(longest, t - since)
                since = None
        elif since is None:
            since = t
            windows += 1
    if since is not None:
        longest = max(longest, end - since)
    return {
        "samples": len(window),
        "longest_sample_gap_s": round(max(b - a for a, b in itertools.pairwise(times)), 3),
        "seconds": round(end - start, 1),
        "max_leaders_at_once": max_leaders,
        "max_masters_down_at_once": max_down,
        "masters_seen_down": sorted(went_down),
        "leaderless_windows": windows,
        "longest_leaderless_s": round(longest, 3),
    }


def _started_at(ips) -> dict[str, float]:
    """When each master process started (now - master/uptime_secs), to tell which ones restarted."""
    started = {}
    for name in MASTERS:
        for _attempt in range(30):
            status, metrics = http_json(f"http://{ips[name]}:{MASTER_PORT}/metrics/snapshot", timeout=2.0)
            if status == 200 and metrics:
                started[name] = time.time() - metrics["master/uptime_secs"]
                break
            time.sleep(1)
    return started


def _agent_ids(ips) -> dict[str, str]:
    """Ids of the ACTIVE agents by hostname (an agent that registered anew leaves its old,
    inactive entry behind in the double's list)."""
    slaves = leader_state(ips)["slaves"]
    active = {agent["hostname"]: agent["id"] for agent in slaves if agent["active"]}
    assert sorted(active) == sorted(AGENTS), slaves
    return active


@pytest.mark.disruptive
def test_rolling_restarts_and_upgrade_keep_one_leader_and_the_agents(mesos_ips):
    ips = mesos_ips
    poller = Poller(ips)
    poller.start()
    wait_for(lambda: len(poller.samples) >= 3, 30, "the leader poller's first samples")
    resources = "cpus:1;mem:384;disk:1024;ports:[31000-31099]"
    phases = [
        ("agents' resources changed", PLAYBOOK, ["-e", json.dumps({"mesos_agent_resources": resources})]),
        (
            "other flags changed (masters and agents)",
            PLAYBOOK,
            [
                "-e",
                json.dumps(
                    {
                        "mesos_agent_resources": resources,
                        "mesos_agent_executor_registration_timeout": "6mins",
                        "mesos_master_extra_flags": {"zk_session_timeout": "12secs"},
                    }
                ),
            ],
        ),
        ("rolling upgrade playbook back to the scenario's settings", UPGRADE_PLAYBOOK, []),
    ]
    results: dict[str, dict] = {}
    ids = [_agent_ids(ips)]
    try:
        for title, playbook, args in phases:
            started_before = _started_at(ips)
            start = time.monotonic()
            run = run_playbook(playbook, *args)
            end = time.monotonic()
            assert poller.is_alive(), "the leader poller died: this phase was not watched"
            started_after = _started_at(ips)
            save_results(f"mesos_rolling_phase{len(results) + 1}.log", {"stdout": run.stdout.splitlines()})
            assert run.returncode == 0, run.stdout[-6000:]
            order = [line.strip() for line in run.stdout.splitlines() if "restart order:" in line]
            restarted = sorted(n for n in MASTERS if abs(started_after.get(n, 0) - started_before.get(n, 0)) > 2.0)
            results[title] = analyse(poller.samples, start, end) | {"order": order, "masters_restarted": restarted}
            ids.append(_agent_ids(ips))
            results[title]["agent_ids"] = ids[-1]
    finally:
        poller.stop_event.set()
        poller.join(timeout=10)
    path = save_results("mesos_rolling.json", {"phases": results, "agent_ids": ids})
    print(f"\n=== Mesos rolling restarts (saved to {path}) ===")
    for title, r in results.items():
        print(
            f"- {title}: {r['seconds']} s; masters restarted {r['masters_restarted']}, "
            f"seen down {r['masters_seen_down']} "
            f"(max {r['max_masters_down_at_once']} at once); "
            f"max leaders {r['max_leaders_at_once']}; leaderless windows {r['leaderless_windows']} "
            f"(longest {r['longest_leaderless_s']} s); {r['order']}"
        )

    titles = list(results)
    for r in results.values():
        assert r["longest_sample_gap_s"] <= MAX_SAMPLE_GAP_S, r
        assert r["max_leaders_at_once"] <= 1, r
        assert r["max_masters_down_at_once"] <= 1, r
        assert r["leaderless_windows"] <= 1, r
        assert r["longest_leaderless_s"] <= MAX_LEADERLESS_S, r
    # 1: resources changed -> latest removed -> new ids; masters untouched.
    assert all(ids[1][a] != ids[0][a] for a in AGENTS), ids
    assert results[titles[0]]["masters_restarted"] == [], results[titles[0]]
    # 2: other flags -> ids kept (latest NOT removed); every master restarted, the leader last.
    assert ids[2] == ids[1], ids
    assert results[titles[1]]["masters_restarted"] == sorted(MASTERS), results[titles[1]]
    # 3: upgrade -> every master restarted; agents drained (down, up) and back with the
    # scenario's resources -> new ids (identity dropped because the resources changed).
    assert results[titles[2]]["masters_restarted"] == sorted(MASTERS), results[titles[2]]
    assert all(ids[3][a] != ids[2][a] for a in AGENTS), ids
    # Back as found: a converge of the scenario's settings would change nothing.
    check = run_playbook(PLAYBOOK, "--check")
    assert check.returncode == 0, check.stdout[-4000:]
    changed = changed_counts(check.stdout)
    assert changed and set(changed.values()) == {0}, check.stdout[-4000:]
