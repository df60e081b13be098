"""zk_sync against two real loopback ensembles (3 ZooKeeper 3.8 JVMs each).

Both ensembles have a super user (``DigestAuthenticationProvider.superDigest``) so the
engine can read digest ACLs unredacted and write nodes whose ACLs exclude it.
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import (
    DEFAULT_EXCLUDES,
    build_config,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import Metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import Node
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.fixtures.zk_tree import read_tree
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for
from ansible_collections.orchestrator.platform.tests.support.zk_client import (
    delete_recursive,
    kazoo_client,
    super_digest,
)
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.security import ACL, Id, make_digest_acl

SUPER = ("super", "s3cret")


def _ensemble(name: str) -> Iterator[ZkEnsemble]:
    ens = ZkEnsemble(size=3, name=name, extra_config={"DigestAuthenticationProvider.superDigest": super_digest(*SUPER)})
    try:
        ens.start(timeout=float(os.environ.get("ZK_TEST_START_TIMEOUT", "60")))
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="session")
def source_ensemble() -> Iterator[ZkEnsemble]:
    yield from _ensemble("zksyncsrc")


@pytest.fixture(scope="session")
def target_ensemble() -> Iterator[ZkEnsemble]:
    yield from _ensemble("zksynctgt")


@pytest.fixture
def src(source_ensemble: ZkEnsemble):
    with kazoo_client(source_ensemble.connect_string, auth=SUPER, start_timeout=20) as c:
        yield c


@pytest.fixture
def tgt(target_ensemble: ZkEnsemble):
    with kazoo_client(target_ensemble.connect_string, auth=SUPER, start_timeout=20) as c:
        yield c


def side(ens: ZkEnsemble, auth: tuple[str, str] | None = SUPER) -> dict:
    out: dict = {"hosts": ens.connect_string, "timeout": 10.0}
    if auth:
        out.update(auth_username=auth[0], auth_password=auth[1])
    return out


def build_tree(c, root: str, seed: int = 1) -> dict:
    """Mixed depths, sizes up to 1 MB, ACLs of several kinds, sequential children, ephemerals."""
    rnd = random.Random(seed)
    alice = make_digest_acl("alice", "alice-pw", all=True)
    kinds = [
        [ACL(31, Id("world", "anyone"))],
        [alice],
        [ACL(1, Id("world", "anyone")), make_digest_acl("bob", "bob-pw", read=True, write=True, create=True)],
        [ACL(31, Id("ip", "127.0.0.1")), ACL(1, Id("world", "anyone"))],
    ]
    c.create(root, b"root")
    for d in range(3):
        dp = f"{root}/d{d}"
        c.create(dp, None if d == 0 else b"dir-%d" % d, acl=kinds[d % len(kinds)])
        for g in range(6):
            gp = f"{dp}/g{g}"
            c.create(gp, bytes(rnd.getrandbits(8) for _i in range(rnd.randint(0, 300))), acl=kinds[g % len(kinds)])
            for n in range(rnd.randint(0, 8)):
                c.create(f"{gp}/n{n}", b"%d" % n, acl=kinds[(g + n) % len(kinds)])
                if n % 3 == 0:
                    c.create(f"{gp}/n{n}/deep", b"x" * n)
                    c.create(f"{gp}/n{n}/deep/deeper", b"")
    c.create(f"{root}/big", b"\x00\xff" * 500_000)  # 1 MB of binary data
    c.create(f"{root}/seq", b"")
    for _i in range(7):
        c.create(f"{root}/seq/job-", b"j", sequence=True)
    c.delete(f"{root}/seq/job-0000000002")
    c.delete(f"{root}/seq/job-0000000005")
    c.create(f"{root}/seq/lock-", b"e", ephemeral=True, sequence=True)  # not copied; its number counts
    c.create(f"{root}/d1/eph", b"e", ephemeral=True)
    c.create(f"{root}/mesos/json.info_", b"{}", ephemeral=True, sequence=True, makepath=True)
    return read_tree(c, (root,))


def run_zk_sync(options: dict, check: bool = False) -> dict:
    """The module with ``options`` through ansible-playbook (playbooks/zk_sync_module.yml); the registered result."""
    args = {"zk_sync_args": options}
    return run_playbook("zk_sync_module.yml", args, check=check, result_var="result_file", timeout=600)


# ---------------------------------------------------------------------------------------------
# copy and verify (through the module)
# ---------------------------------------------------------------------------------------------


def test_copy_verify_generated_tree(source_ensemble, target_ensemble, src, tgt):
    delete_recursive(src, "/cv")
    delete_recursive(tgt, "/cv")
    before = build_tree(src, "/cv")
    args = {"mode": "copy", "source": side(source_ensemble), "target": side(target_ensemble), "paths": ["/cv"]}

    checked = run_zk_sync(args, check=True)
    assert checked["failed"] is False, checked
    assert checked["changed"] is True
    assert checked["copy"]["created"] > 100
    assert tgt.exists("/cv") is None, "check mode wrote to the target"

    first = run_zk_sync(args)
    assert first["failed"] is False, first
    assert first["changed"] is True

    after = read_tree(tgt, ("/cv",))
    expected = {p: v for p, v in before.items() if not v[2] and "json.info_" not in p}
    assert set(after) == set(expected), "ephemerals must be skipped, everything else copied"
    for path, (data, acl, _eph) in expected.items():
        assert after[path][0] == data, f"data of {path} differs"
        assert after[path][1] == acl, f"ACL of {path} differs"
    assert tgt.get("/cv/d0")[0] is None  # null data stays null, not b""
    assert all(":x" not in ident for _p, (_d, acl, _e) in after.items() for (_s, ident, _perm) in acl)

    # sequential counters: the next sequential child gets the same number on both sides
    s_next = src.create("/cv/seq/job-", b"", sequence=True)
    t_next = tgt.create("/cv/seq/job-", b"", sequence=True)
    assert s_next == t_next
    src.delete(s_next)
    tgt.delete(t_next)

    verified = run_zk_sync(dict(args, mode="verify"))
    assert verified["failed"] is False, verified
    assert verified["consistent"] is True, verified["verify"]["differences"]

    again = run_zk_sync(dict(args, allow_non_empty_target=True))
    assert again["failed"] is False, again
    assert again["changed"] is False, again["copy"]

    # a difference of each kind is reported
    src.set("/cv/d1/g1", b"changed")
    src.set_acls("/cv/d2/g0", [ACL(17, Id("world", "anyone"))])
    src.create("/cv/d2/new", b"n")
    tgt.create("/cv/d2/extra", b"e")
    diff = run_zk_sync(dict(args, mode="verify", fail_on_differences=False))
    kinds = {(d["path"], d["kind"]) for d in diff["verify"]["differences"]}
    assert ("/cv/d1/g1", "data") in kinds
    assert ("/cv/d2/g0", "acl") in kinds
    assert ("/cv/d2/new", "missing") in kinds
    assert ("/cv/d2/extra", "extra") in kinds
    assert diff["consistent"] is False
    fixed = run_zk_sync(dict(args, allow_non_empty_target=True))
    assert fixed["copy"]["deleted"] == 1
    assert run_zk_sync(dict(args, mode="verify"))["consistent"] is True


def _wide_tree(c, root: str, dirs: int = 4, width: int = 500) -> None:
    """``dirs`` x ``width`` leaves: walk batches wide enough to be split over read sessions."""
    acls = [[ACL(31, Id("world", "anyone"))], [make_digest_acl("alice", "alice-pw", all=True)]]
    c.create(root, b"wide")
    for d in range(dirs):
        tx = c.transaction()
        tx.create(f"{root}/d{d}", b"dir")
        for n in range(width):
            tx.create(f"{root}/d{d}/n{n:04d}", b"%d:%d" % (d, n) * (n % 7), acls[(d + n) % 2])
        assert not any(isinstance(r, Exception) for r in tx.commit())


def test_reads_spread_over_sessions_return_what_one_session_returns(source_ensemble, target_ensemble, src, tgt):
    delete_recursive(src, "/wide")
    delete_recursive(tgt, "/wide")
    _wide_tree(src, "/wide")
    paths = ["/wide"] + [f"/wide/d{d}/n{n:04d}" for d in range(4) for n in range(520)]  # 80 absent
    one = SyncEngine(
        build_config({"paths": ["/wide"], "read_sessions": 1}), side(source_ensemble), side(target_ensemble)
    )
    four = SyncEngine(
        build_config({"paths": ["/wide"], "read_sessions": 4}), side(source_ensemble), side(target_ensemble)
    )
    with one, four:
        assert len(one.src.readers) == 1
        assert len(four.src.readers) == 4
        assert {r.server for r in four.src.readers} == set(_zk.split_hosts(source_ensemble.connect_string)), (
            "one session per server first"
        )
        expected = one.src.fetch(paths)
        got = four.src.fetch(paths)
    assert sum(n is None for n in got) == 80
    assert [_node_view(n) for n in got] == [_node_view(n) for n in expected]

    copied = run_zk_sync(
        {
            "mode": "copy",
            "source": side(source_ensemble),
            "target": side(target_ensemble),
            "paths": ["/wide"],
            "read_sessions": 4,
        }
    )
    assert copied["failed"] is False, copied
    assert copied["copy"]["created"] == 1 + 4 * 501
    assert read_tree(tgt, ("/wide",)) == read_tree(src, ("/wide",))
    verified = run_zk_sync(
        {
            "mode": "verify",
            "source": side(source_ensemble),
            "target": side(target_ensemble),
            "paths": ["/wide"],
            "read_sessions": 4,
        }
    )
    assert verified["consistent"] is True, verified["verify"]["differences"]
    assert verified["verify"]["nodes_compared"] == 1 + 4 * 501


def _node_view(node: Node | None) -> tuple | None:
    if node is None:
        return None
    return (node.path, node.data, node.acl, sorted(node.children or ()), node.stat)


# ---------------------------------------------------------------------------------------------
# mirroring (the engine directly: the test drives the load while it runs)
# ---------------------------------------------------------------------------------------------


class Load(threading.Thread):
    """One client making creates, sets, deletes and delete-then-recreate of small subtrees."""

    def __init__(self, hosts: str, root: str, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.hosts, self.root, self.seed, self.stop = hosts, root, seed, stop
        self.ops = 0
        self.errors = 0

    def run(self) -> None:
        rnd = random.Random(self.seed)
        with kazoo_client(self.hosts, auth=SUPER, start_timeout=20) as c:
            for _i in range(100_000):
                if self.stop.is_set():
                    break
                p = f"{self.root}/w{self.seed}/n{rnd.randint(0, 30)}"
                r = rnd.random()
                try:
                    if r < 0.35:
                        c.set(f"{self.root}/base/k{rnd.randint(0, 49)}", b"v%d" % rnd.getrandbits(32))
                    elif r < 0.6:
                        c.create(p, b"c", makepath=True)
                    elif r < 0.75:
                        c.delete(p, recursive=True)
                    elif r < 0.9:  # delete and recreate a node with children
                        c.create(f"{p}/child", b"1", makepath=True)
                        c.delete(p, recursive=True)
                        c.create(f"{p}/child2", b"2", makepath=True)
                    else:
                        c.create(f"{self.root}/seq/e-", b"", ephemeral=True, sequence=True)
                    self.ops += 1
                except (NoNodeError, NodeExistsError):
                    self.errors += 1  # races between the clients: expected
                except KazooException:
                    self.errors += 1  # connection lost while a member is killed: expected
                    time.sleep(0.1)  # let the client reconnect
                time.sleep(0.002)  # pacing of the load, not a wait for a condition


def _prepare_mirror_tree(src, tgt, root: str) -> None:
    delete_recursive(src, root)
    delete_recursive(tgt, root)
    src.create(root, b"m")
    src.create(f"{root}/base", b"")
    for k in range(50):
        src.create(f"{root}/base/k{k}", b"0")
    src.create(f"{root}/seq", b"")


def _run_mirror(engine: SyncEngine, result: dict, **kwargs) -> threading.Thread:
    def target() -> None:
        try:
            result.update(Mirror(engine).run(**kwargs))
        except Exception as exc:  # reported by the test
            result["exception"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def test_mirror_under_concurrent_changes(source_ensemble, target_ensemble, src, tgt):
    root = "/mirror1"
    _prepare_mirror_tree(src, tgt, root)
    port = free_port()
    cfg = build_config({"paths": [root], "heartbeat_interval": 0.1, "reconcile_interval": 2.0})
    metrics = Metrics()
    metrics.serve(port)
    engine = SyncEngine(cfg, side(source_ensemble), side(target_ensemble), metrics)
    engine.open()
    result: dict = {}
    stop = threading.Event()
    try:
        runner = _run_mirror(engine, result, stop_marker="/mirror1_stop", drain_timeout=120)
        wait_for(lambda: metrics.state == "mirroring", 60, "the mirror to start")
        loads = [Load(source_ensemble.connect_string, root, seed, stop) for seed in range(3)]
        for load in loads:
            load.start()
        wait_for(lambda: sum(load.ops for load in loads) > 600, 120, "600 changes")
        # the copy of a new node reaches the target while mirroring
        src.create(f"{root}/probe", b"hello")
        wait_for(lambda: tgt.exists(f"{root}/probe") is not None, 30, "a new node on the target")
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert "zk_sync_events_applied_total" in scraped
        assert "zk_sync_lag_seconds_bucket" in scraped
        assert 'zk_sync_state{zk_sync_state="mirroring"} 1.0' in scraped
        stop.set()
        for load in loads:
            load.join(30)
        src.create("/mirror1_stop", b"")
        runner.join(240)
        assert not runner.is_alive(), "the mirror did not stop after the stop marker appeared"
    finally:
        stop.set()
        engine.close()
        metrics.close()
        delete_recursive(src, "/mirror1_stop")
    assert "exception" not in result, result.get("exception")
    assert result["stop_reason"] == "stop_marker"
    assert result["events_applied"] > 0
    if result["resyncs"] == 0:  # no connection lost (a loaded machine may drop one)
        # the writers race each other (creates of deleted nodes, recreations with children):
        # the engine applies every race as it is, no failed multi and nothing to repair
        assert (result["errors"], result["repairs"]) == (0, 0)
    assert result["lag"]["samples"] > 0
    assert result["verify"]["consistent"] is True, result["verify"]["differences"]
    # a fresh verify (new sessions) agrees
    with SyncEngine(cfg, side(source_ensemble), side(target_ensemble)) as again:
        assert again.verify()["consistent"] is True


def test_mirror_survives_source_leader_and_target_member_loss(source_ensemble, target_ensemble, src, tgt):
    root = "/mirror2"
    _prepare_mirror_tree(src, tgt, root)
    cfg = build_config({"paths": [root], "heartbeat_interval": 0.2, "reconcile_interval": 0})
    engine = SyncEngine(cfg, side(source_ensemble), side(target_ensemble))
    engine.open()
    result: dict = {}
    stop = threading.Event()
    killed = []
    try:
        runner = _run_mirror(engine, result, stop_marker="/mirror2_stop", drain_timeout=180)
        wait_for(lambda: engine.metrics.state == "mirroring", 60, "the mirror to start")
        loads = [Load(source_ensemble.connect_string, root, seed, stop) for seed in (11, 12)]
        for load in loads:
            load.start()
        wait_for(lambda: sum(load.ops for load in loads) > 200, 120, "changes before the failover")
        leader = source_ensemble.leader()
        leader.kill()
        killed.append((source_ensemble, leader))
        source_ensemble.wait_for_quorum(60)
        wait_for(lambda: sum(load.ops for load in loads) > 500, 120, "changes after the source failover")
        # the member the mirror writes through: its writes in flight fail, the session moves
        assert engine.tgt.loop is not None and not engine.tgt.loop_lost()
        writes_to = engine.tgt.loop.server
        member = next(m for m in target_ensemble.members if (m.host, m.client_port) == writes_to)
        member.kill()
        killed.append((target_ensemble, member))
        target_ensemble.wait_for_quorum(60)
        wait_for(lambda: sum(load.ops for load in loads) > 800, 120, "changes after losing a target member")
        stop.set()
        for load in loads:
            load.join(30)
        src.create("/mirror2_stop", b"")
        runner.join(300)
        assert not runner.is_alive(), "the mirror did not stop"
    finally:
        stop.set()
        engine.close()
        for _ens, m in killed:
            m.start()
        for ens, _m in killed:
            ens.wait_for_quorum(60)
        delete_recursive(src, "/mirror2_stop")
    assert "exception" not in result, result.get("exception")
    assert result["verify"]["consistent"] is True, result["verify"]["differences"]
    # the write session's server died under it: it reconnected, then walked everything
    assert result["resyncs"] >= 1, result
    with SyncEngine(cfg, side(source_ensemble), side(target_ensemble)) as again:
        assert again.verify()["consistent"] is True


def test_mirror_reconciliation_repairs_what_no_watch_sees_and_keeps_extras(source_ensemble, target_ensemble, src, tgt):
    """Changes no watch reports (a source setACL, writes made on the target behind the mirror's
    back) are found by the periodic reconciliation, fixed and counted as repairs; with
    delete_extra off, nodes only the target has stay, through the copy, the reconciliations
    and the final verify."""
    root = "/mirror3"
    _prepare_mirror_tree(src, tgt, root)
    tgt.create(f"{root}/target_only/child", b"keep me", makepath=True)
    cfg = build_config(
        {
            "paths": [root],
            "delete_extra": False,
            "allow_non_empty_target": True,
            "heartbeat_interval": 0.2,
            "reconcile_interval": 0.5,
        }
    )
    engine = SyncEngine(cfg, side(source_ensemble), side(target_ensemble))
    engine.open()
    result: dict = {}
    try:
        runner = _run_mirror(engine, result, stop_marker="/mirror3_stop", drain_timeout=120)
        wait_for(lambda: engine.metrics.state == "mirroring", 60, "the mirror to start")
        assert engine.metrics.repairs == 0
        read_only = [ACL(1, Id("world", "anyone")), make_digest_acl("alice", "alice-pw", all=True)]
        src.set_acls(f"{root}/base/k8", read_only)  # fires no watch on the source
        tgt.set(f"{root}/base/k7", b"tampered")  # the target behind the mirror's back
        tgt.delete(f"{root}/base/k9")
        wait_for(
            lambda: (
                tgt.get(f"{root}/base/k7")[0] == b"0"
                and tgt.exists(f"{root}/base/k9") is not None
                and sorted(tgt.get_acls(f"{root}/base/k8")[0]) == sorted(read_only)  # order means nothing
            ),
            60,
            "the reconciliation to repair the target",
        )
        # the counter follows the batch's writes: the target can be seen repaired a moment before
        wait_for(lambda: engine.metrics.repairs >= 3, 30, "the three repairs to be counted")
        # the event path still deletes what the source deletes, extras or not
        src.delete(f"{root}/base/k1")
        wait_for(lambda: tgt.exists(f"{root}/base/k1") is None, 30, "a source delete on the target")
        src.create("/mirror3_stop", b"")
        runner.join(240)
        assert not runner.is_alive(), "the mirror did not stop"
    finally:
        engine.close()
        delete_recursive(src, "/mirror3_stop")
    assert "exception" not in result, result.get("exception")
    assert result["reconciliations"] >= 1
    assert result["repairs"] >= 3
    assert result["verify"]["consistent"] is True, result["verify"]["differences"]
    assert result["verify"]["extra_kept"] == 1
    assert tgt.get(f"{root}/target_only/child")[0] == b"keep me"
    # the stop marker ended the migration: the engine's heartbeat node is gone on both sides
    assert src.exists(f"{root}/zk_sync_heartbeat") is None
    assert tgt.exists(f"{root}/zk_sync_heartbeat") is None
    expected = read_tree(src, (root,))
    got = read_tree(tgt, (root,))
    assert {p: v for p, v in got.items() if not p.startswith(f"{root}/target_only")} == expected
    # the same comparison with delete_extra on names the kept subtree as the only difference
    strict = build_config({"paths": [root]})
    with SyncEngine(strict, side(source_ensemble), side(target_ensemble)) as again:
        differences = again.verify()["differences"]
    assert [(d["path"], d["kind"]) for d in differences] == [(f"{root}/target_only", "extra")]


# ---------------------------------------------------------------------------------------------
# mirror races: the engine driven batch by batch (``apply_events(upto=...)`` splits the batches
# where a busy mirror may split them), each race forced deterministically. A blind multi that
# meets a race fails as a whole: an error, and a repair of every node it carried.
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def watching(source_ensemble, target_ensemble, src, tgt, request):
    """An engine watching ``/race_<test>`` (copied, watch on, no mirror loop) and that root."""
    root = "/race_" + request.node.name.removeprefix("test_")[:40]
    delete_recursive(src, root)
    delete_recursive(tgt, root)
    src.create(root, b"r")
    src.create(f"{root}/p", b"p")
    src.create(f"{root}/y", b"old")
    src.create(f"{root}/q", b"")
    for i in range(4):  # the counter of q moves to 8
        src.create(f"{root}/q/k{i}", b"")
        src.delete(f"{root}/q/k{i}")
    cfg = build_config({"paths": [root], "excludes": [*DEFAULT_EXCLUDES, f"{root}/private"]})
    engine = SyncEngine(cfg, side(source_ensemble), side(target_ensemble))
    engine.open()
    try:
        mirror = Mirror(engine)
        mirror.start_watches()
        engine.preflight()
        engine.copy()
        engine.tgt.open_loop()  # the mirror's own target session, as in Mirror.run()
        engine.tgt.wait_connected(30)
        assert not engine.tgt.loop_lost(), "the mirror's target session did not connect"
        tgt.sync(root)  # the tests read the target through another server than the engine's
        yield mirror, root
    finally:
        engine.close()


def _queued(mirror: Mirror, etype: int, path: str) -> int:
    """The number of the queued watch event (etype, path), once the mirror has read it."""
    found: list[int] = []

    def seen() -> bool:
        found[:] = [seq for seq, t, p in list(mirror.events) if t == etype and p == path]
        return bool(found)

    wait_for(seen, 30, f"event {etype} on {path}")
    return found[0]


def _settle(mirror: Mirror) -> None:
    mirror.apply_events()
    mirror.writer.drain()
    assert mirror.metrics.errors == 0, "a blind multi failed on a race"
    assert not mirror.repairs, f"repairs queued: {list(mirror.repairs)}"
    result = mirror.engine.verify()
    assert result["consistent"], result["differences"]
    assert result["cversion_ahead"] == 0


def test_mirror_race_created_then_deleted_before_the_read(watching, src, tgt):
    """The read finds a new node already deleted: its "deleted" event must not become a delete."""
    mirror, root = watching
    src.create(f"{root}/a", b"1")
    seq = _queued(mirror, wire.EVENT_CREATED, f"{root}/a")
    src.delete(f"{root}/a")
    _queued(mirror, wire.EVENT_DELETED, f"{root}/a")  # the mirror's server has it: its read will too
    mirror.apply_events(upto=seq)  # a batch that holds the create only
    mirror.writer.drain()
    assert mirror.metrics.errors == 0
    _settle(mirror)  # the next batch: the "deleted" event
    tgt.sync(root)  # the mirror wrote through another server
    assert tgt.exists(f"{root}/a") is None


def test_mirror_race_deleted_then_recreated_before_the_read(watching, src, tgt):
    """The read finds a deleted node back (new data and ACL): recreated at once, no NodeExists later."""
    mirror, root = watching
    alice = make_digest_acl("alice", "alice-pw", all=True)
    src.delete(f"{root}/y")
    src.create(f"{root}/y", b"new", acl=[alice])
    seq = _queued(mirror, wire.EVENT_DELETED, f"{root}/y")
    _queued(mirror, wire.EVENT_CREATED, f"{root}/y")
    mirror.apply_events(upto=seq)  # a batch that holds the delete only
    mirror.writer.drain()
    tgt.sync(root)  # the mirror wrote through another server
    assert tgt.get(f"{root}/y")[0] == b"new"
    assert [(a.id.scheme, a.id.id) for a in tgt.get_acls(f"{root}/y")[0]] == [("digest", alice.id.id)]
    _settle(mirror)  # the next batch: the "created" event


def test_mirror_race_counter_of_a_parent_deleted_in_the_same_batch(watching, src, tgt):
    """Child events of a parent deleted in the same batch need no filler (it would fail: NoNode)."""
    mirror, root = watching
    src.create(f"{root}/p/c", b"")
    src.delete(f"{root}/p/c")
    src.delete(f"{root}/p")
    _queued(mirror, wire.EVENT_DELETED, f"{root}/p")
    _settle(mirror)
    tgt.sync(root)  # the mirror wrote through another server
    assert tgt.exists(f"{root}/p") is None


def test_mirror_race_counter_of_an_excluded_parent(watching, src, tgt):
    """Children of an excluded node move its counter: nothing to keep on the target (no filler)."""
    mirror, root = watching
    src.create(f"{root}/private", b"")
    src.create(f"{root}/private/x", b"")
    _queued(mirror, wire.EVENT_CREATED, f"{root}/private/x")
    _settle(mirror)
    tgt.sync(root)  # the mirror wrote through another server
    assert tgt.exists(f"{root}/private") is None


def test_mirror_race_counter_of_a_recreated_parent(watching, src, tgt):
    """A parent deleted and recreated: only the new node's child events count for its counter."""
    mirror, root = watching
    assert tgt.exists(f"{root}/q").cversion == 8
    src.create(f"{root}/q/old", b"")
    src.delete(f"{root}/q/old")
    src.delete(f"{root}/q")
    src.create(f"{root}/q", b"")
    src.create(f"{root}/q/k", b"")
    _queued(mirror, wire.EVENT_CREATED, f"{root}/q/k")
    _settle(mirror)  # one batch: old child events, recreation, new child
    tgt.sync(root)  # the mirror wrote through another server
    assert tgt.exists(f"{root}/q").cversion == src.exists(f"{root}/q").cversion == 1
    assert src.create(f"{root}/q/s-", sequence=True) == tgt.create(f"{root}/q/s-", sequence=True)


# ---------------------------------------------------------------------------------------------
# bad input: clear error, nothing written
# ---------------------------------------------------------------------------------------------


def test_bad_input_fails_clearly_and_writes_nothing(source_ensemble, target_ensemble, src, tgt):
    delete_recursive(src, "/bad")
    delete_recursive(tgt, "/bad")
    src.create("/bad", b"b")
    # the unreadable node comes last in the walk: batches of readable ones are written before it
    for start in range(0, 3000, 500):
        tx = src.transaction()
        for n in range(start, start + 500):
            tx.create(f"/bad/n{n:04d}", b"readable")
        assert not any(isinstance(r, Exception) for r in tx.commit())
    src.create("/bad/zz-locked", b"secret", acl=[make_digest_acl("owner", "owner-pw", all=True)])
    base = {"mode": "copy", "source": side(source_ensemble), "target": side(target_ensemble), "paths": ["/bad"]}
    dead_port = free_port()
    before = read_tree(tgt, ("/",))

    unreachable = run_zk_sync(dict(base, target={"hosts": f"127.0.0.1:{dead_port}", "timeout": 2.0}))
    assert unreachable["failed"] is True
    assert "target:" in unreachable["msg"] and "cannot connect" in unreachable["msg"]

    wrong_auth = run_zk_sync(dict(base, source=side(source_ensemble, ("super", "wrong-password"))))
    assert wrong_auth["failed"] is True
    assert "/bad/zz-locked: not authorized to read it (NoAuth)" in wrong_auth["msg"], wrong_auth["msg"]
    assert "the target is as it was" in wrong_auth["msg"], wrong_auth["msg"]
    assert read_tree(tgt, ("/",)) == before, "the refused copy left part of the tree on the target"

    # a target path under missing parents: the parents the copy made go too
    nested = run_zk_sync(
        dict(
            base,
            source=side(source_ensemble, ("super", "wrong-password")),
            paths=[{"source": "/bad", "target": "/bad_parent/deeper/bad"}],
        )
    )
    assert nested["failed"] is True and "the target is as it was" in nested["msg"], nested["msg"]
    assert tgt.exists("/bad_parent") is None

    overlap = run_zk_sync(dict(base, target=side(source_ensemble), paths=[{"source": "/bad", "target": "/bad/copy"}]))
    assert overlap["failed"] is True
    assert "overlap on the same ensemble" in overlap["msg"]

    bad_field = run_zk_sync(dict(base, paths=["relative/path"]))
    assert bad_field["failed"] is True
    assert bad_field["msg"].startswith("paths[0]:")

    tgt.create("/bad", b"precious")
    tgt.create("/bad/keep", b"k")
    not_empty = run_zk_sync(base)
    assert not_empty["failed"] is True
    assert "allow_non_empty_target" in not_empty["msg"]
    # a dry run does not promise the copy that the real run refuses
    not_empty_checked = run_zk_sync(base, check=True)
    assert not_empty_checked["failed"] is True
    assert "allow_non_empty_target" in not_empty_checked["msg"]
    assert tgt.get("/bad")[0] == b"precious"
    tgt.delete("/bad", recursive=True)

    assert read_tree(tgt, ("/",)) == before, "a refused run wrote to the target"


def test_redacted_digest_acl_is_refused(source_ensemble, target_ensemble, src, tgt):
    """Without ADMIN, ZooKeeper shows digest ids as user:x: copying that would corrupt ACLs."""
    delete_recursive(src, "/redact")
    delete_recursive(tgt, "/redact")
    src.create("/redact", b"r")
    src.create("/redact/n", b"n", acl=[make_digest_acl("carol", "pw", read=True), ACL(1, Id("world", "anyone"))])
    cfg = build_config({"paths": ["/redact"]})
    with SyncEngine(cfg, side(source_ensemble, None), side(target_ensemble)) as engine:
        engine.preflight()
        with pytest.raises(ZkSyncError, match=r"/redact/n: ZooKeeper hid the digest ACL id 'carol:x'"):
            engine.copy()


def test_copy_mirror_and_verify_over_tls(tls):
    """Every session of the engine (kazoo, the read sessions, both loop sessions) over TLS with
    a client certificate: one member that demands one, subtree to subtree on that ensemble."""
    secure, certs, _ens = tls
    params = {"hosts": secure, "timeout": 10.0, "use_ssl": True, "verify_certs": True, **certs}
    c = KazooClient(hosts=secure, timeout=10, use_ssl=True, verify_certs=True, **certs)
    c.start(timeout=20)
    try:
        for root in ("/tls_src", "/tls_dst", "/tls_stop"):
            delete_recursive(c, root)
        c.create("/tls_src", b"r")
        for k in range(30):
            c.create(f"/tls_src/k{k}", b"%d" % k)
        c.create("/tls_src/big", os.urandom(300_000))  # answers larger than one TLS record
        cfg = build_config({"paths": [{"source": "/tls_src", "target": "/tls_dst"}], "heartbeat_interval": 0.2})
        engine = SyncEngine(cfg, params, dict(params))
        engine.open()
        result: dict = {}
        try:
            runner = _run_mirror(engine, result, stop_marker="/tls_stop", drain_timeout=60)
            wait_for(lambda: engine.metrics.state == "mirroring", 60, "the mirror to start")
            c.set("/tls_src/k3", b"changed")
            c.delete("/tls_src/k4")
            c.create("/tls_src/new", b"n")
            c.create("/tls_src/new/child", os.urandom(200_000))
            wait_for(lambda: c.exists("/tls_dst/new/child") is not None, 30, "the mirror's writes over TLS")
            c.create("/tls_stop", b"")
            runner.join(120)
            assert not runner.is_alive(), "the mirror did not stop"
        finally:
            engine.close()
        assert "exception" not in result, result.get("exception")
        assert result["verify"]["consistent"] is True, result["verify"]["differences"]
        assert result["errors"] == 0 and result["repairs"] == 0, result
        assert c.get("/tls_dst/k3")[0] == b"changed"
        assert c.exists("/tls_dst/k4") is None
        assert c.get("/tls_dst/big")[0] == c.get("/tls_src/big")[0]
        assert result["lag"]["samples"] > 0  # heartbeats went through the target's loop session
    finally:
        for root in ("/tls_src", "/tls_dst", "/tls_stop"):
            delete_recursive(c, root)
        c.stop()
        c.close()
