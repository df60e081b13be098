"""Unit tests of the zk_sync engine's pure parts: options, path mapping, wire encoding."""

from __future__ import annotations

import socket
import struct

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync as zs
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire


def test_build_config_defaults():
    cfg = zs.build_config({"paths": ["/mesos", {"source": "/marathon", "target": "/new/marathon"}]})
    assert [(m.source, m.target) for m in cfg.paths] == [("/mesos", "/mesos"), ("/marathon", "/new/marathon")]
    assert cfg.excludes == list(zs.DEFAULT_EXCLUDES)
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
        ({"paths": ["/a"], "heartbeat_path": "/elsewhere/hb"}, r"^heartbeat_path: "),
        ({"paths": ["/a"], "excludes": "/x"}, r"^excludes: "),
    ],
)
def test_build_config_names_the_field(opts, message):
    with pytest.raises(zs.ZkSyncError, match=message):
        zs.build_config(opts)


def test_path_map_round_trip():
    m = zs.PathMap("/marathon", "/new/marathon")
    assert m.to_target("/marathon") == "/new/marathon"
    assert m.to_target("/marathon/state/x") == "/new/marathon/state/x"
    assert m.to_source("/new/marathon/state/x") == "/marathon/state/x"
    assert m.covers("/marathon/a") and m.covers("/marathon") and not m.covers("/marathonx")
    root = zs.PathMap("/", "/copy")
    assert root.to_target("/a/b") == "/copy/a/b"
    assert zs.PathMap("/copy", "/").to_target("/copy/a") == "/a"


def test_same_ensemble_overlap_is_refused_and_chroot_too():
    cfg = zs.build_config({"paths": [{"source": "/a", "target": "/a/copy"}]})
    with pytest.raises(zs.ZkSyncError, match=r"overlap on the same ensemble"):
        zs.check_ensembles("h1:2181,h2:2181", "h2:2181", cfg)
    zs.check_ensembles("h1:2181", "h3:2181", cfg)  # other ensemble: fine
    disjoint = zs.build_config({"paths": [{"source": "/a", "target": "/b"}]})
    zs.check_ensembles("h1:2181", "h1:2181", disjoint)
    with pytest.raises(zs.ZkSyncError, match=r"^target.hosts: a chroot"):
        zs.check_ensembles("h1:2181", "h3:2181/chroot", cfg)
    with pytest.raises(zs.ZkSyncError, match=r"^source.hosts: "):
        zs.check_ensembles("", "h3:2181", cfg)


def _node(data=b"x", acl=(("world", "anyone", 31),), cversion=0, ephemeral=0):
    stat = (1, 1, 0, 0, 0, cversion, 0, ephemeral, len(data or b""), 0, 1)
    return zs.Node("/p", data, stat, acl, [])


def test_diff_kinds():
    engine = zs.SyncEngine.__new__(zs.SyncEngine)
    pair = zs.Pair("/p", "/p", _node(), _node())
    assert engine.diff(pair) == []
    assert engine.diff(zs.Pair("/p", "/p", _node(), None)) == ["missing"]
    assert engine.diff(zs.Pair("/p", "/p", None, _node())) == ["extra"]
    assert engine.diff(zs.Pair("/p", "/p", None, _node(ephemeral=5))) == []
    assert engine.diff(zs.Pair("/p", "/p", _node(data=None), _node(data=b""))) == ["data"]  # null is not empty
    assert engine.diff(zs.Pair("/p", "/p", _node(acl=(("world", "anyone", 1),)), _node())) == ["acl"]
    assert engine.diff(zs.Pair("/p", "/p", _node(cversion=4), _node(cversion=3))) == ["cversion"]
    assert engine.diff(zs.Pair("/p", "/p", _node(cversion=4), _node(cversion=5))) == []


def test_redacted_digest_acl_is_detected():
    node = _node(acl=(("digest", "carol:x", 1),))
    with pytest.raises(zs.ZkSyncError, match=r"source /p: ZooKeeper hid the digest ACL id 'carol:x'"):
        zs._check_redacted(node, "source")
    zs._check_redacted(_node(acl=(("digest", "carol:V55/p2T0OpjQ+low3NVAH4aLvm0=", 1),)), "source")


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


def test_poll_select_reports_readable_and_writable():
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
    m = zs.Metrics()
    assert m.lag_summary()["samples"] == 0
    for ms in range(1, 101):
        m.lag(ms / 1000.0)
    summary = m.lag_summary()
    assert summary == {"samples": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}


def test_filler_ops_come_in_create_delete_pairs():
    op = zs.Op("filler", "/p", pairs=3)
    reqs = op.requests()
    assert [type(r).__name__ for r in reqs] == ["Create", "Delete"] * 3
    assert {r.path for r in reqs} == {"/p/" + zs.FILLER_NAME}
