"""Unit tests of the zk_sync engine's pure parts: options, path mapping, wire encoding."""

from __future__ import annotations

import collections
import fnmatch
import socket
import struct

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import (
    DEFAULT_EXCLUDES,
    PathMap,
    build_config,
    check_ensembles,
    overlapping_paths,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import Pair, SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import Metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import Node, check_redacted
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_service import (
    service_connection,
    service_main,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_sessions import EnsembleSessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_writes import FILLER_NAME, Op


def test_build_config_defaults():
    cfg = build_config({"paths": ["/mesos", {"source": "/marathon", "target": "/new/marathon"}]})
    assert [(m.source, m.target) for m in cfg.paths] == [("/mesos", "/mesos"), ("/marathon", "/new/marathon")]
    assert cfg.excludes == list(DEFAULT_EXCLUDES)
    assert cfg.heartbeat_path == "/mesos/zk_sync_heartbeat"
    assert cfg.delete_extra is True
    assert cfg.allow_non_empty_target is False


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({}, r"^paths: "),
        ({"paths": []}, r"^paths: "),
        ({"paths": ["mesos"]}, r"^paths\[0\]: 'mesos' must start with '/'"),
        ({"paths": [{"source": "/a", "target": "b"}]}, r"^paths\[0\]\.target: "),
        ({"paths": [{"source": "/a", "dest": "/b"}]}, r"^paths\[0\]: unknown key"),
        ({"paths": [42]}, r"^paths\[0\]: expected a path string"),
        ({"paths": ["/a", "/a/b"]}, r"^paths\[1\]: source /a/b overlaps paths\[0\]"),
        ({"paths": ["/zookeeper/quota"]}, r"belongs to ZooKeeper itself"),
        ({"paths": ["/a"], "batch_size": 0}, r"^batch_size: "),
        ({"paths": ["/a"], "write_window": True}, r"^write_window: "),
        ({"paths": ["/a"], "read_sessions": 0}, r"^read_sessions: "),
        ({"paths": ["/a"], "read_sessions": 17}, r"^read_sessions: "),
        ({"paths": ["/a"], "heartbeat_path": "/elsewhere/hb"}, r"^heartbeat_path: "),
        ({"paths": ["/a"], "excludes": "/x"}, r"^excludes: "),
        ({"paths": ["/a"], "drain_timeout": 0}, r"^drain_timeout: "),
    ],
)
def test_build_config_names_the_field(opts, message):
    with pytest.raises(ZkSyncError, match=message):
        build_config(opts)


def test_path_map_round_trip():
    m = PathMap("/marathon", "/new/marathon")
    assert m.to_target("/marathon") == "/new/marathon"
    assert m.to_target("/marathon/state/x") == "/new/marathon/state/x"
    assert m.to_source("/new/marathon/state/x") == "/marathon/state/x"
    assert m.covers("/marathon/a") and m.covers("/marathon") and not m.covers("/marathonx")
    root = PathMap("/", "/copy")
    assert root.to_target("/a/b") == "/copy/a/b"
    assert PathMap("/copy", "/").to_target("/copy/a") == "/a"


def test_chroot_and_bad_hosts_are_refused_before_connecting():
    check_ensembles("h1:2181,h2:2181", "h2:2181")  # identity is asked of the servers later
    with pytest.raises(ZkSyncError, match=r"^target.hosts: a chroot"):
        check_ensembles("h1:2181", "h3:2181/chroot")
    with pytest.raises(ZkSyncError, match=r"^source.hosts: "):
        check_ensembles("", "h3:2181")


def test_overlapping_paths_are_the_ones_identity_matters_for():
    def pairs(paths):
        return [(i, p.source, q.target) for i, p, q in overlapping_paths(build_config({"paths": paths}))]

    assert pairs([{"source": "/a", "target": "/a/copy"}]) == [(0, "/a", "/a/copy")]
    assert pairs(["/mesos"]) == [(0, "/mesos", "/mesos")]  # same path: fine between two ensembles only
    assert pairs([{"source": "/a", "target": "/b"}, {"source": "/b", "target": "/c"}]) == [(1, "/b", "/b")]
    assert pairs([{"source": "/a", "target": "/b"}]) == []  # never a loop, even on one ensemble


def _node(data=b"x", acl=(("world", "anyone", 31),), cversion=0, ephemeral=0):
    stat = (1, 1, 0, 0, 0, cversion, 0, ephemeral, len(data or b""), 0, 1)
    return Node("/p", data, stat, acl, [])


def test_diff_kinds():
    engine = SyncEngine.__new__(SyncEngine)
    engine.cfg = build_config({"paths": ["/p"]})
    pair = Pair("/p", "/p", _node(), _node())
    assert engine.diff(pair) == []
    assert engine.diff(Pair("/p", "/p", _node(), None)) == ["missing"]
    assert engine.diff(Pair("/p", "/p", None, _node())) == ["extra"]
    assert engine.diff(Pair("/p", "/p", None, _node(ephemeral=5))) == []
    assert engine.diff(Pair("/p", "/p", _node(data=None), _node(data=b""))) == ["data"]  # null is not empty
    assert engine.diff(Pair("/p", "/p", _node(acl=(("world", "anyone", 1),)), _node())) == ["acl"]
    assert engine.diff(Pair("/p", "/p", _node(cversion=4), _node(cversion=3))) == ["cversion"]
    assert engine.diff(Pair("/p", "/p", _node(cversion=4), _node(cversion=5))) == []
    # with delete_extra off, what only the target has is the user's to keep: no difference
    engine.cfg = build_config({"paths": ["/p"], "delete_extra": False})
    assert engine.diff(Pair("/p", "/p", None, _node())) == []
    assert engine.diff(Pair("/p", "/p", _node(), None)) == ["missing"]


def test_redacted_digest_acl_is_detected():
    node = _node(acl=(("digest", "carol:x", 1),))
    with pytest.raises(ZkSyncError, match=r"source /p: ZooKeeper hid the digest ACL id 'carol:x'"):
        check_redacted(node, "source")
    check_redacted(_node(acl=(("digest", "carol:V55/p2T0OpjQ+low3NVAH4aLvm0=", 1),)), "source")


def test_multiread_encoding_round_trip():
    req = wire.MultiRead([(wire.OP_GET_DATA, "/a"), (wire.OP_GET_CHILDREN, "/a")])
    body = req.serialize()
    assert body.startswith(struct.pack("!iBi", wire.OP_GET_DATA, 0, -1) + struct.pack("!i", 2) + b"/a\x00")
    assert body.endswith(struct.pack("!iBi", -1, 1, -1))
    stat = tuple(range(11))
    answer = (
        struct.pack("!iBi", wire.OP_GET_DATA, 0, 0)
        + struct.pack("!i", 3)
        + b"abc"
        + wire.STAT.pack(*stat)
        + struct.pack("!iBi", wire.OP_GET_CHILDREN, 0, 0)
        + struct.pack("!i", 2)
        + wire.write_string("x")
        + wire.write_string("y")
        + struct.pack("!iBi", -1, 0, -101)
        + struct.pack("!i", -101)
        + struct.pack("!iBi", -1, 1, -1)
    )
    assert wire.MultiRead.deserialize(answer, 0) == [(b"abc", stat), ["x", "y"], -101]


def test_add_watch_encoding():
    assert wire.AddWatch("/m").serialize() == struct.pack("!i", 2) + b"/m" + struct.pack("!i", 1)


@pytest.mark.parametrize("fd_limit", [wire.SELECT_FD_LIMIT, 0])  # select() for small fds, else poll()
def test_poll_select_reports_readable_and_writable(monkeypatch, fd_limit):
    monkeypatch.setattr(wire, "SELECT_FD_LIMIT", fd_limit)
    a, b = socket.socketpair()
    try:
        r, w, x = wire.poll_select([a], [b], [], 0.1)
        assert r == [] and w == [b] and x == []
        b.send(b"1")
        r, _w, _x = wire.poll_select([a, a.fileno()], [], [], 1.0)
        assert a in r and a.fileno() in r
    finally:
        a.close()
        b.close()


def test_reply_counts_events_seen_before_the_answer():
    seen = {"n": 3}
    calls = []
    reply = wire.Reply(lambda: seen["n"], calls.append)
    assert not reply.ready()
    reply.set(["ok"])
    assert reply.events_before == 3
    assert reply.get(0.1) == ["ok"]
    assert calls == [["ok"]]
    failed = wire.Reply(lambda: 0)
    failed.set_exception(ValueError("x"))
    with pytest.raises(ValueError, match="x"):
        failed.get(0.1)
    with pytest.raises(wire.WireError):
        wire.Reply(lambda: 0).get(0.01)


def test_lag_summary_percentiles():
    m = Metrics()
    assert m.lag_summary()["samples"] == 0
    for ms in range(1, 101):
        m.lag(ms / 1000.0)
    summary = m.lag_summary()
    assert summary == {"samples": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}


def test_filler_ops_come_in_create_delete_pairs():
    op = Op("filler", "/p", pairs=3)
    reqs = op.requests()
    assert [type(r).__name__ for r in reqs] == ["Create", "Delete"] * 3
    assert {r.path for r in reqs} == {"/p/" + FILLER_NAME}


class _ScriptedClient:
    """A kazoo client stand-in answering each request at once from scripted rounds."""

    def __init__(self, side: EnsembleSessions, rounds: list[tuple[list, dict]]) -> None:
        self.side = side
        self.rounds = rounds  # per read round: multiRead items, {path: GetACL answer or exception}
        self.round = -1

    def _call(self, request, reply):
        if isinstance(request, wire.MultiRead):
            self.round += 1
            self.side.event_seq += 10  # events keep arriving between the answers
            reply.set(self.rounds[self.round][0])
        else:
            self.side.event_seq += 1
            answer = self.rounds[self.round][1][request.path]
            if isinstance(answer, Exception):
                reply.set_exception(answer)
            else:
                reply.set(answer)


def _stat(czxid: int) -> tuple:
    return (czxid, czxid, 0, 0, 0, 0, 0, 0, 1, 0, czxid)


def _acl_answer(czxid: int, ident: str = "anyone") -> tuple:
    states = pytest.importorskip("kazoo.protocol.states")
    security = pytest.importorskip("kazoo.security")
    return [security.ACL(31, security.Id("world", ident))], states.ZnodeStat(*_stat(czxid))


def _side_with(rounds: list[tuple[list, dict]]) -> EnsembleSessions:
    s = EnsembleSessions("source", {"hosts": "h:2181"})
    s.client = _ScriptedClient(s, rounds)
    return s


def test_read_ordered_rereads_a_node_deleted_between_its_data_and_acl():
    no_node = pytest.importorskip("kazoo.exceptions").NoNodeError
    s = _side_with(
        [
            ([(b"d", _stat(5)), []], {"/n": no_node()}),  # data read, then gone for getACL
            ([-101, -101], {"/n": no_node()}),
        ]
    )
    nodes, seens = s.read_ordered(["/n"], 1.0)
    assert nodes == [None]
    assert seens == [21]  # as of the second read: the "deleted" event is counted


def test_read_ordered_rereads_a_node_recreated_between_its_data_and_acl():
    s = _side_with(
        [
            ([(b"old", _stat(5)), []], {"/n": _acl_answer(7, "new-life")}),  # ACL of another life
            ([(b"new", _stat(7)), ["c"]], {"/n": _acl_answer(7, "new-life")}),
        ]
    )
    nodes, seens = s.read_ordered(["/n"], 1.0)
    node = nodes[0]
    assert node is not None and node.data == b"new" and node.children == ["c"]
    assert node.acl == (("world", "new-life", 31),)
    assert seens == [21]


def test_read_ordered_seen_is_per_answer():
    s = _side_with([([(b"a", _stat(5)), [], -101, -101], {"/a": _acl_answer(5)})])
    nodes, seens = s.read_ordered(["/a", "/b"], 1.0, {"/a"})
    assert nodes[0] is not None and nodes[1] is None
    assert seens == [10, 10]  # the ACL answer came later (11) but the data is as of 10


def _bare_mirror() -> Mirror:
    engine = SyncEngine.__new__(SyncEngine)
    engine.ephemerals = set()
    mirror = Mirror.__new__(Mirror)
    mirror.engine = engine
    mirror.events = collections.deque()
    mirror._reads = collections.deque()
    return mirror


def test_target_had_follows_the_last_read_when_it_reflected_the_event():
    mirror = _bare_mirror()
    created, deleted = wire.EVENT_CREATED, wire.EVENT_DELETED
    # nothing read yet: the first event tells what was there before it
    assert mirror._target_had("/a", 5, created) is False
    assert mirror._target_had("/a", 5, deleted) is True
    mirror.engine.ephemerals.add("/e")
    assert mirror._target_had("/e", 5, deleted) is False  # source ephemerals are never copied
    # a read (answered after event 7) found /a gone, with events 6 and 7 still queued
    mirror.events.extend([(6, deleted, "/a"), (7, created, "/b")])
    mirror._remember_reads({"/a": (False, 7), "/b": (True, 7)}, 7)
    assert mirror._target_had("/a", 6, deleted) is False  # created and deleted before the read
    assert mirror._target_had("/b", 7, created) is True  # created by that read's batch already
    assert mirror._target_had("/a", 8, deleted) is True  # a later event: the event type rules
    # once no queued event predates a read, it is forgotten
    mirror.events.clear()
    mirror.events.append((9, created, "/c"))
    mirror._remember_reads({"/c": (True, 8)}, 8)
    assert not mirror._reads


@pytest.mark.parametrize(
    "path",
    [
        "/zookeeper",
        "/zookeeper/quota",
        "/mesos/json.info_0000000001",
        "/m/leader-curator/_c_1-latch-0001",
        "/m/leader-curator",
        "/a/priv",
        "/a/priv/z/w",
        "/a/xzy/q",
        "/a/xzy",
        "/a/bc",
        "/a/bcd",
        "/a/cc/d",
        "/a/x\ny/q",
    ],
)
def test_excludes_match_like_fnmatchcase(path):
    excludes = [*DEFAULT_EXCLUDES, "/a/priv", "/a/x?y/*", "/a/[ab]c"]
    engine = SyncEngine(build_config({"paths": ["/a"], "excludes": excludes}), {"hosts": "h1"}, {"hosts": "h2"})
    try:

        def slow(p):
            return any(fnmatch.fnmatchcase(p, pat) for pat in excludes)

        assert engine.excluded(path) == slow(path)
        assert engine.excluded_or_below(path) == (slow(path) or any(slow(a) for a in _zk.parent_paths(path)))
        assert engine.excluded_or_below(path) == engine.excluded_or_below(path)  # remembered
    finally:
        engine.close()


def test_service_connection_fills_the_module_defaults_and_keeps_what_is_given():
    conf = {"source": {"hosts": "a:2181", "timeout": 10.0}, "target": {"hosts": "b:2181"}}
    source = service_connection(conf, "source")
    target = service_connection(conf, "target")
    assert source["hosts"] == "a:2181" and source["timeout"] == 10.0
    assert target["timeout"] == 5.0 and target["auth_scheme"] == "digest" and target["use_ssl"] is False
    # Every key the client needs is there, so _zk.client_kwargs() cannot fail on a missing one.
    assert set(_zk.zookeeper_argument_spec()) <= set(target)
    _zk.client_kwargs(target)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"target": {"hosts": "b:2181"}}, r"^source\.hosts: "),
        ({"source": {"hosts": ""}, "target": {"hosts": "b:2181"}}, r"^source\.hosts: "),
        ({"source": {"hosts": "a:2181", "auth_scheme": "sasl", "auth_username": "u"}}, r"^source\.auth_scheme: "),
    ],
)
def test_service_connection_refuses_what_the_service_cannot_use(conf, message):
    with pytest.raises(ZkSyncError, match=message):
        service_connection(conf, "source")


def test_service_exits_2_with_one_line_on_bad_options(tmp_path, caplog):
    config = tmp_path / "zk-sync.json"
    config.write_text('{"source": {"hosts": "127.0.0.1:1"}, "target": {"hosts": "127.0.0.1:1"}, "options": {}}')
    assert service_main([str(config)]) == 2
    assert any(r.levelname == "ERROR" and r.getMessage().startswith("paths: ") for r in caplog.records), caplog.text


def test_service_exits_1_when_no_server_answers_so_that_systemd_retries(tmp_path, caplog):
    """Unlike bad settings (2, RestartPreventExitStatus), an ensemble not up yet may come."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed when the block ends: nothing listens there
    # source and target on two addresses: not the same servers, so no overlap refusal first
    config = tmp_path / "zk-sync.json"
    config.write_text(
        f'{{"source": {{"hosts": "127.0.0.1:{dead}", "timeout": 0.5}}, "target": {{"hosts": "127.0.0.2:{dead}"}},'
        ' "options": {"paths": ["/a"]}}'
    )
    assert service_main([str(config)]) == 1
    assert any("cannot connect" in r.getMessage() and "retries" in r.getMessage() for r in caplog.records), caplog.text
