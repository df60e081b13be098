"""Grow and shrink proof: 3 -> 4 -> 5 -> 4 -> 3 members with the playbooks, under a writer.

The lab's spare containers (inventory group ``zookeeper_spare``, not converged by site.yml) are
added to group ``zookeeper`` of a copy of the lab inventory ONE step at a time, as an operator
edits the inventory, and ``playbooks/zookeeper_grow.yml`` / ``zookeeper_shrink.yml`` run on it.
Meanwhile, from this machine:

- a kazoo client (connected to all five members' addresses) writes a new value every ~20 ms.
  WHAT COUNTS: one write is one ``set()`` of the next value. kazoo may reconnect to another
  member and retry it on ConnectionLoss/OperationTimeout (what any ZooKeeper client does while
  a member restarts), but only within ``WRITE_DEADLINE_S``, the client's session timeout: a
  write that is not acknowledged by then, or that raises anything else (session expired, ...),
  is a FAILED write. So an election that stalls writes counts as a stall (reported), one that
  keeps the ensemble from accepting writes for a session timeout counts as failures. At the
  end, the value read back must be the last acknowledged one (no acknowledged write lost).
- a poller asks every member (spares included) for ``srvr`` every ~100 ms and records its Mode;
  no round may show two leaders.

After each step: ``zk_info`` (the collection's module) reports a healthy quorum, the leader
counts exactly the group's voters, all synced. Also: two new voters at once, a grow while a
member is down, a shrink of a member that is down and a dry run (``--check``) change nothing,
a rerun of a finished step changes nothing, and the removed members, started again, neither
serve nor disturb the ensemble. The lab is left as found: three members (same zoo.cfg), spares
stopped.

A separate check, which stops nothing, runs the refusals of bad requests (no member named, two
named, an unknown host, a member still in the group, fewer than 3 left).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support import ansible_run
from ansible_collections.orchestrator.platform.tests.support.ansible_run import REPO_ROOT
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry
from lab_inventory import INVENTORY_DIR, group_hosts
from scenario_helpers import changed_counts, container_ip, docker_exec
from zk_checks import CLIENT_PORT, MEMBERS, mode_of, state_snapshot

SPARES = group_hosts("zookeeper_spare")
GROW = REPO_ROOT / "playbooks" / "zookeeper_grow.yml"
SHRINK = REPO_ROOT / "playbooks" / "zookeeper_shrink.yml"
SESSION_TIMEOUT_S = 10.0
WRITE_DEADLINE_S = SESSION_TIMEOUT_S
WRITE_INTERVAL_S = 0.02
POLL_INTERVAL_S = 0.1


class Writer(threading.Thread):
    """One set() every WRITE_INTERVAL_S; retried through reconnects for WRITE_DEADLINE_S at most."""

    def __init__(self, hosts: str) -> None:
        super().__init__(daemon=True)
        connection_retry = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5}
        self.client = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_S, connection_retry=connection_retry)
        self.stop_event = threading.Event()
        self.acked: list[tuple[float, float]] = []  # (started, latency)
        self.failures: list[tuple[float, str]] = []
        self.retried = 0
        self.states: list[tuple[float, str]] = []
        self.client.add_listener(lambda state: self.states.append((time.monotonic(), str(state))))
        self.path = "/molecule-grow-shrink"
        self.value = 0
        self.last_acked = 0
        self.attempts = 0

    def _attempt(self, value: bytes) -> object:
        self.attempts += 1
        return self.client.set(self.path, value)

    def _retry(self) -> KazooRetry:
        return KazooRetry(
            max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5, deadline=WRITE_DEADLINE_S, ignore_expire=False
        )

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.value += 1
            self.attempts = 0
            started = time.monotonic()
            try:
                self._retry()(self._attempt, str(self.value).encode())
                self.acked.append((started, time.monotonic() - started))
                self.last_acked = self.value
            except Exception as exc:  # every error is a failed write, whatever its kind
                self.failures.append((started, f"{type(exc).__name__}: {exc}"))
            self.retried += self.attempts > 1
            time.sleep(max(0.0, WRITE_INTERVAL_S - (time.monotonic() - started)))

    def window(self, start: float, end: float) -> dict:
        acked = [(t, lat) for t, lat in self.acked if start <= t <= end]
        times = [t + lat for t, lat in acked]
        gaps = sorted((b - a for a, b in itertools.pairwise(times)), reverse=True)
        return {
            "writes_acked": len(acked),
            "writes_failed": len([t for t, _unused in self.failures if start <= t <= end]),
            "slowest_write_s": round(max((lat for _unused, lat in acked), default=0.0), 3),
            "longest_gap_between_acks_s": round(gaps[0], 3) if gaps else None,
        }


class Poller(threading.Thread):
    """Every member's Mode from srvr, all asked at once, every POLL_INTERVAL_S."""

    def __init__(self, ips: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.ips = ips
        self.stop_event = threading.Event()
        self.samples: list[tuple[float, dict[str, str]]] = []
        self.pool = ThreadPoolExecutor(max_workers=len(ips))

    def run(self) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            modes = dict(zip(self.ips, self.pool.map(lambda ip: mode_of(ip, 1.0), self.ips.values()), strict=True))
            self.samples.append((now, modes))
            time.sleep(max(0.0, POLL_INTERVAL_S - (time.monotonic() - now)))

    def window(self, start: float, end: float) -> dict:
        samples = [(t, m) for t, m in self.samples if start <= t <= end]
        leaders = [[n for n, mode in m.items() if mode == "leader"] for _unused, m in samples]
        changes, current, leaderless, since = 0, None, 0.0, None
        for (t, _unused), names in zip(samples, leaders, strict=True):
            if names:
                if current is not None and names[0] != current:
                    changes += 1
                current = names[0]
                if since is not None:
                    leaderless, since = max(leaderless, t - since), None
            elif since is None:
                since = t
        return {
            "polls": len(samples),
            "max_leaders_at_once": max((len(n) for n in leaders), default=0),
            "two_leaders_samples": [m for (_unused, m), n in zip(samples, leaders, strict=True) if len(n) > 1][:3],
            "leader_changes": changes,
            "longest_leaderless_s": round(leaderless, 3),
            "leaders_seen": sorted({n for names in leaders for n in names}),
        }


def save_results(name: str, data: dict, fallback: Path) -> Path:
    """Next to Molecule's inventory when run by `molecule verify`, else in pytest's tmp_path."""
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    path = (Path(ephemeral) if ephemeral else fallback) / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


def write_inventory(directory: Path, members: list[str], outside: tuple[str, ...] = ()) -> str:
    """The lab inventory with group zookeeper = members (spares keep their zookeeper_spare vars);
    ``outside``: members of the lab's group taken out of it but kept in the inventory, as an
    operator does before a shrink (group zookeeper_outside)."""
    inventory = yaml.safe_load((INVENTORY_DIR / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    spare_hosts = groups["zookeeper_spare"]["hosts"]
    base = copy.deepcopy(groups["zookeeper"]["hosts"])
    groups["zookeeper"]["hosts"] = {name: copy.deepcopy(base.get(name) or spare_hosts.get(name)) for name in members}
    if outside:
        groups["zookeeper_outside"] = {"hosts": {name: copy.deepcopy(base[name]) for name in outside}}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    link = directory / "group_vars"
    if not link.exists():
        link.symlink_to(INVENTORY_DIR / "group_vars")
    return str(directory / "hosts.yml")


def zk_info(inventory: str, members: list[str]) -> dict:
    """The collection's zk_info, run on the first member against the group's members."""
    hosts = ",".join(f"{name}:{CLIENT_PORT}" for name in members)
    return ansible_run.run_module(
        members[0], "orchestrator.platform.zk_info", {"hosts": hosts, "timeout": 2}, inventory=inventory
    )


def assert_exactly(info: dict, members: list[str]) -> None:
    """Healthy, one leader among members, the leader counts exactly them, all synced, no other learner."""
    leader = [s for s in info["servers"] if s["mode"] == "leader"]
    assert info["quorum_healthy"], info
    assert len(leader) == 1, info
    assert info["serving_count"] == len(members), info
    assert info["quorum_size"] == len(members), info
    assert leader[0]["synced_followers"] == len(members) - 1, info
    assert leader[0]["followers"] == len(members) - 1, info
    assert not info["problems"], info


def files_of(snapshot: dict[str, str]) -> dict[str, list[str]]:
    """The checksums of the files the role manages, without the JVM's pid and start time."""
    return {name: text.splitlines()[:3] for name, text in snapshot.items()}


def start_and_wait_serving(member: str, ips: dict[str, str]) -> None:
    docker_exec(member, "systemctl start zookeeper")
    wait_for(lambda: mode_of(ips[member]) in ("leader", "follower"), 60, f"{member} serving again", interval=0.2)


def refused(tmp_path: Path, playbook: Path, members: list[str], *args: str, outside: tuple[str, ...] = ()) -> str:
    """Run a grow/shrink playbook that must refuse; its output. Nothing may change anywhere."""
    before = state_snapshot()
    inventory = write_inventory(tmp_path / "refused", members, outside)
    run = ansible_run.ansible_playbook(playbook, *args, inventory=inventory)
    assert run.returncode != 0, run.stdout[-4000:]
    assert set(changed_counts(run.stdout).values()) == {0}, run.stdout[-4000:]
    assert "Nothing was changed." in run.stdout, run.stdout[-4000:]
    assert state_snapshot() == before
    return run.stdout


def test_grow_and_shrink_refuse_bad_requests_and_change_nothing(tmp_path: Path) -> None:
    """Refusals that need no member down, on the lab's 3-member ensemble, each before any change."""
    zk1, zk2, zk3 = MEMBERS
    out = refused(tmp_path, SHRINK, [zk1, zk2])
    assert "Name the member to remove: -e zookeeper_remove=<inventory name>" in out
    out = refused(tmp_path, SHRINK, [zk1], "-e", f"zookeeper_remove={zk2},{zk3}")
    assert f"zookeeper_remove={zk2},{zk3} names more than one member" in out
    out = refused(tmp_path, SHRINK, [zk1, zk2], "-e", "zookeeper_remove=no-such-host")
    assert "zookeeper_remove=no-such-host is not a host of the inventory" in out
    out = refused(tmp_path, SHRINK, list(MEMBERS), "-e", f"zookeeper_remove={zk3}")
    assert f"{zk3} is still in group 'zookeeper': take it out of the group in the inventory first" in out
    out = refused(tmp_path, SHRINK, [zk1, zk2], "-e", f"zookeeper_remove={zk3}", outside=(zk3,))
    assert f"Removing {zk3} would leave 2 voting member(s), which survive no failure" in out


@pytest.mark.disruptive
def test_grow_to_five_and_shrink_to_three_one_member_at_a_time(tmp_path: Path) -> None:
    assert len(SPARES) == 2, f"the lab inventory needs two spares in group zookeeper_spare, has {SPARES}"
    zk4, zk5 = SPARES
    ips = {name: container_ip(name) for name in (*MEMBERS, *SPARES)}
    for spare in SPARES:  # spares start stopped (a previous run leaves them so)
        docker_exec(spare, "systemctl stop zookeeper; systemctl reset-failed zookeeper", check=False)
    three, four, five = list(MEMBERS), [*MEMBERS, zk4], [*MEMBERS, zk4, zk5]
    inv = {n: write_inventory(tmp_path / f"members{n}", m) for n, m in ((3, three), (4, four), (5, five))}
    inv_two_at_once = write_inventory(tmp_path / "two-at-once", five)
    before = state_snapshot()
    assert_exactly(zk_info(inv[3], three), three)

    writer = Writer(",".join(f"{ip}:{CLIENT_PORT}" for ip in ips.values()))
    writer.client.start(timeout=30)
    writer.client.ensure_path(writer.path)
    poller = Poller(ips)
    poller.start()
    writer.start()
    deadline = time.monotonic() + 30
    while len(writer.acked) < 20:
        assert time.monotonic() < deadline, "the client could not write before the first step"
        time.sleep(0.05)

    steps: dict[str, dict] = {}

    def step(title: str, playbook: Path, inventory: str, *args: str) -> str:
        start = time.monotonic()
        run = ansible_run.ansible_playbook(playbook, *args, inventory=inventory)
        end = time.monotonic()
        save_results(f"grow_shrink_step{len(steps) + 1}.log", {"stdout": run.stdout.splitlines()}, tmp_path)
        assert poller.is_alive() and writer.is_alive(), "a watcher thread died: this step was not watched"
        steps[title] = {"seconds": round(end - start, 1), "rc": run.returncode, "changed": changed_counts(run.stdout)}
        steps[title] |= writer.window(start, end) | poller.window(start, end)
        return run.stdout

    error: BaseException | None = None
    try:
        # Refused up front, nothing changed: two new voters at once; dry run of the first step.
        out = step("refused: two new voters at once (3 -> 5)", GROW, inv_two_at_once)
        assert steps["refused: two new voters at once (3 -> 5)"]["rc"] != 0
        assert "adding 2 voters in one step can elect two leaders" in out, out[-3000:]
        assert f"keep only one of {zk4}, {zk5} in group 'zookeeper'" in out, out[-3000:]
        assert state_snapshot() == before
        out = step("dry run: grow 3 -> 4 (--check)", GROW, inv[4], "--check")
        assert steps["dry run: grow 3 -> 4 (--check)"]["rc"] == 0, out[-4000:]
        assert state_snapshot() == before
        assert mode_of(ips[zk4]) == "down"

        # Refused while a member of the group is down: the new voter would make 2 of 4 serving.
        docker_exec(MEMBERS[-1], "systemctl stop zookeeper")
        title = f"refused: grow 3 -> 4 while {MEMBERS[-1]} is down"
        out = step(title, GROW, inv[4])
        assert steps[title]["rc"] != 0, out[-4000:]
        assert f"(not serving: {MEMBERS[-1]}, {zk4}; one of them may be the new member)" in out, out[-4000:]
        assert set(steps[title]["changed"].values()) == {0}, out[-4000:]
        assert files_of(state_snapshot()) == files_of(before)
        start_and_wait_serving(MEMBERS[-1], ips)
        assert_exactly(zk_info(inv[3], three), three)

        out = step("grow 3 -> 4", GROW, inv[4])
        assert steps["grow 3 -> 4"]["rc"] == 0, out[-6000:]
        assert_exactly(zk_info(inv[4], four), four)
        out = step("rerun of grow 3 -> 4", GROW, inv[4])
        assert steps["rerun of grow 3 -> 4"]["rc"] == 0, out[-6000:]
        assert set(steps["rerun of grow 3 -> 4"]["changed"].values()) == {0}, out[-4000:]

        # Refused: removing a voter that is down. Restarting the 3 others one at a time would
        # leave 2 of the 4 the running list counts, below its majority of 3.
        docker_exec(zk4, "systemctl stop zookeeper")
        title = f"refused: shrink 4 -> 3 while the leaving {zk4} is down"
        out = step(title, SHRINK, inv[3], "-e", f"zookeeper_remove={zk4}")
        assert steps[title]["rc"] != 0, out[-4000:]
        assert f"{zk4} does not serve, and restarting the other 3 members one at a time" in out, out[-4000:]
        assert set(steps[title]["changed"].values()) == {0}, out[-4000:]
        start_and_wait_serving(zk4, ips)
        assert_exactly(zk_info(inv[4], four), four)

        out = step("grow 4 -> 5", GROW, inv[5])
        assert steps["grow 4 -> 5"]["rc"] == 0, out[-6000:]
        assert_exactly(zk_info(inv[5], five), five)

        out = step("shrink 5 -> 4 (remove lab-zk5)", SHRINK, inv[4], "-e", f"zookeeper_remove={zk5}")
        assert steps["shrink 5 -> 4 (remove lab-zk5)"]["rc"] == 0, out[-6000:]
        assert_exactly(zk_info(inv[4], four), four)
        out = step("rerun of shrink 5 -> 4", SHRINK, inv[4], "-e", f"zookeeper_remove={zk5}")
        assert steps["rerun of shrink 5 -> 4"]["rc"] == 0, out[-6000:]
        assert set(steps["rerun of shrink 5 -> 4"]["changed"].values()) == {0}, out[-4000:]

        out = step("shrink 4 -> 3 (remove lab-zk4)", SHRINK, inv[3], "-e", f"zookeeper_remove={zk4}")
        assert steps["shrink 4 -> 3 (remove lab-zk4)"]["rc"] == 0, out[-6000:]
        info = zk_info(inv[3], three)
        assert_exactly(info, three)

        # The removed members, started again, cannot rejoin: no myid, the server exits at once.
        start = time.monotonic()
        leader = info["leader"]
        for spare in SPARES:
            assert docker_exec(spare, "find /var/lib/zookeeper/data /var/lib/zookeeper/txlog -mindepth 1") == ""
            assert docker_exec(spare, "systemctl is-enabled zookeeper", check=False).strip() == "disabled"
            docker_exec(spare, "systemctl start zookeeper", check=False)
        time.sleep(8)
        rejoin = {spare: mode_of(ips[spare]) for spare in SPARES}
        since = f"--since=-{int(time.monotonic() - start) + 2}s"
        journal = {s: docker_exec(s, f"journalctl -u zookeeper {since} --no-pager", check=False) for s in SPARES}
        info = zk_info(inv[3], three)
        end = time.monotonic()
        steps["removed members started again"] = writer.window(start, end) | poller.window(start, end)
        steps["removed members started again"] |= {"spare_modes": rejoin}
        assert all(mode == "down" for mode in rejoin.values()), rejoin
        for spare, text in journal.items():
            assert "myid file is missing" in text, (spare, text[-2000:])
        assert_exactly(info, three)
        assert info["leader"] == leader, "starting a removed member moved the leadership"
    except BaseException as exc:  # the numbers are printed first, then the failure is raised
        error = exc
    finally:
        for spare in SPARES:
            docker_exec(spare, "systemctl stop zookeeper; systemctl reset-failed zookeeper", check=False)
        writer.stop_event.set()
        writer.join(timeout=60)
        poller.stop_event.set()
        poller.join(timeout=10)
    final, _unused = writer.client.get(writer.path)
    states = [s for _unused, s in writer.states]
    writer.client.stop()
    writer.client.close()

    everything = writer.window(0, time.monotonic()) | poller.window(0, time.monotonic())
    summary = {
        "steps": steps,
        "total": everything,
        "writes_retried_through_reconnects": writer.retried,
        "failed_writes": [f for _unused, f in writer.failures],
        "client_states": states,
        "last_value_read_back": final.decode(),
        "last_acknowledged": writer.last_acked,
    }
    path = save_results("grow_shrink.json", summary, tmp_path)
    print(f"\n=== grow/shrink proof (saved to {path}) ===")
    for title, r in steps.items():
        print(
            f"- {title}: {r.get('seconds', '-')} s, rc {r.get('rc', '-')}, changed {r.get('changed', '-')}; "
            f"writes acked {r['writes_acked']}, FAILED {r['writes_failed']}, slowest {r['slowest_write_s']} s, "
            f"longest gap {r['longest_gap_between_acks_s']} s; polls {r['polls']}, "
            f"max leaders at once {r['max_leaders_at_once']}, leader changes {r['leader_changes']} "
            f"(leaders {r['leaders_seen']}), longest leaderless {r['longest_leaderless_s']} s"
            + (f"; {r['spare_modes']}" if "spare_modes" in r else "")
        )
    print(
        f"- total: {everything['writes_acked']} writes acked, {everything['writes_failed']} failed, "
        f"{writer.retried} retried through a reconnect; {everything['polls']} polls, max leaders at once "
        f"{everything['max_leaders_at_once']}, {everything['leader_changes']} leader changes; client states {states}"
    )

    if error is not None:
        raise error
    assert not writer.failures, writer.failures
    assert int(final) == writer.last_acked, "the last acknowledged write is not what the ensemble holds"
    assert str(KazooState.LOST) not in states, "the client's session expired"
    assert everything["max_leaders_at_once"] <= 1, everything["two_leaders_samples"]
    after = state_snapshot()
    for name in MEMBERS:  # zoo.cfg, myid and unit as found (the JVMs were restarted, of course)
        assert after[name].splitlines()[:3] == before[name].splitlines()[:3], (name, before[name], after[name])
    for spare in SPARES:
        assert mode_of(ips[spare]) == "down"
