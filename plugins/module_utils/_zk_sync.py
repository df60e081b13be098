# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ZooKeeper sync engine: copy, verify and continuously mirror subtrees between ensembles.

Private to the collection; used by the ``zk_sync`` module and, unchanged, by the ``zk_sync``
role's service (:func:`service_main`). The design in one paragraph (docs/zk_sync.md has more):

* Reads for copy and verify go through :class:`WireSession` (pipelined raw sessions: one
  ``multiRead`` of ``getData``+``getChildren`` plus one ``getACL`` per node, thousands per
  round trip); writes go through the kazoo session of the target as ``multi`` batches below the
  1 MB request limit, several in flight, in tree order (parents before children).
* Mirroring puts one persistent recursive watch (``addWatch``) on every source root BEFORE the
  copy, so nothing changed during the copy is missed. Each batch of events is read back with
  one ``multiRead`` on the same connection (ZooKeeper orders answers after the events they
  reflect) and applied blindly as one ``multi``: three round trips from change to target.
  Both connections are the engine's own (:class:`LoopSession`), read by the mirror loop
  itself: an event, the read it causes, its answer and the write it causes cross no thread.
  Anything that fails, anything a reconnect may have hidden, and every difference a periodic
  reconciliation walk finds is re-checked on both sides and repaired (counted).
* Memory is bounded by settings: read batches shrink to stay under ``max_batch_bytes``, at most
  ``write_window`` multis of at most ``max_multi_bytes`` are in flight, the event backlog is
  capped (beyond it the engine forgets events and resynchronises instead).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import fnmatch
import json
import logging
import math
import re
import secrets
import signal
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire

try:
    from kazoo import exceptions as kexc
    from kazoo.protocol.serialization import Create, Delete, Exists, GetACL, SetACL, SetData, Transaction
    from kazoo.protocol.states import KazooState
    from kazoo.security import ACL, Id
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass

PROMETHEUS_IMPORT_ERROR = None
try:
    import prometheus_client

    HAS_PROMETHEUS = True
except ImportError:
    HAS_PROMETHEUS = False
    PROMETHEUS_IMPORT_ERROR = traceback.format_exc()

LOG = logging.getLogger("ansible_collections.orchestrator.platform.zk_sync")
if not LOG.handlers:
    LOG.addHandler(logging.NullHandler())

DEFAULT_EXCLUDES = (
    "/zookeeper",
    "/zookeeper/*",
    "*/json.info_*",  # Mesos masters' leader election (ephemeral sequential)
    "*/leader-curator/*",  # Marathon's leader latch nodes (ephemeral sequential)
)
FILLER_NAME = "zk_sync.cversion_filler"
# Below ZooKeeper's 1 MB jute.maxbuffer, leaving room for headers.
DEFAULT_MAX_MULTI_BYTES = 900_000
# A mirror must outlive leader elections and restarts: reconnect forever (the first connection
# must still succeed within the timeout).
RETRY_FOREVER = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 2.0}
# The smallest share of a read batch worth a read session of its own.
MIN_READ_PART = 200
STATES = ("idle", "connecting", "copying", "mirroring", "resyncing", "draining", "verifying", "stopped")

# stat tuple indexes (ZooKeeper's Stat record order)
S_VERSION = 4
S_CVERSION = 5
S_EPHEMERAL = 7
S_DATALEN = 8
S_NUMCHILDREN = 9


class ZkSyncError(Exception):
    """A problem for the user: bad input, refused operation, unfaithful copy."""


class ZkSyncUnavailable(ZkSyncError):
    """No server of an ensemble answered in time: may pass by itself (the service retries)."""


class ZkSyncLoop(ZkSyncError):
    """The mirror's own target writes arrive on its source: one ensemble, overlapping paths."""


def describe_error(exc: BaseException | None) -> str:
    """An error's class and message: kazoo's exceptions (``NoNodeError()``) have no message."""
    if exc is None:
        return "no answer and no error given"
    text = str(exc).strip()
    if isinstance(exc, ZkSyncError) and text:
        return text  # the engine's own messages say what failed
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MultiFailed(ZkSyncError):
    """A ``multi`` rolled back: names the op that failed and its error (kept as ``cause``)."""

    def __init__(self, cause: BaseException, where: str) -> None:
        super().__init__(f"{describe_error(cause)} at {where}")
        self.cause = cause


try:
    CONNECTION_ERRORS: tuple = (
        kexc.ConnectionLoss,
        kexc.SessionExpiredError,
        kexc.ConnectionClosedError,
        wire.WireError,
    )
except NameError:  # kazoo missing: reported by the module
    CONNECTION_ERRORS = (wire.WireError,)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class PathMap:
    source: str
    target: str

    def to_target(self, path: str) -> str:
        if path == self.source:
            return self.target
        rest = path[len(self.source) :] if self.source != "/" else path
        return (self.target.rstrip("/") or "") + rest if self.target != "/" else rest

    def to_source(self, path: str) -> str:
        return PathMap(self.target, self.source).to_target(path)

    def covers(self, path: str) -> bool:
        return _within(path, self.source)


def _within(path: str, root: str) -> bool:
    return root in ("/", path) or path.startswith(root + "/")


@dataclass
class SyncConfig:
    paths: list[PathMap]
    excludes: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    delete_extra: bool = True
    allow_non_empty_target: bool = False
    batch_size: int = 2000
    max_batch_bytes: int = 16 << 20
    max_multi_bytes: int = DEFAULT_MAX_MULTI_BYTES
    max_multi_ops: int = 1000
    write_window: int = 4
    read_sessions: int = 4
    max_backlog: int = 200_000
    reconcile_interval: float = 300.0
    drain_timeout: float = 120.0
    heartbeat_path: str | None = None
    heartbeat_interval: float = 1.0
    max_differences: int = 1000
    io_timeout: float = 30.0


def _require_int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ZkSyncError(f"{name}: must be an integer from {low} to {high}, got {value!r}")
    return value


def _require_float(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise ZkSyncError(f"{name}: must be a number from {low} to {high}, got {value!r}")
    return float(value)


def _check_path(value: object, name: str) -> str:
    try:
        return _zk.validate_path(value, name)
    except _zk.ZkError as exc:
        raise ZkSyncError(str(exc)) from exc


def build_config(opts: dict) -> SyncConfig:  # noqa: PLR0912,PLR0915  # one check per option, in order
    """Validate the user's options (field names in every message) into a :class:`SyncConfig`."""
    raw_paths = opts.get("paths")
    if not isinstance(raw_paths, list) or not raw_paths:
        raise ZkSyncError("paths: a non-empty list of znode paths (or {source, target} dicts) is required")
    paths: list[PathMap] = []
    for i, item in enumerate(raw_paths):
        if isinstance(item, str):
            src = tgt = _check_path(item, f"paths[{i}]")
        elif isinstance(item, dict):
            unknown = set(item) - {"source", "target"}
            if unknown:
                raise ZkSyncError(f"paths[{i}]: unknown key(s) {sorted(unknown)} (allowed: source, target)")
            src = _check_path(item.get("source"), f"paths[{i}].source")
            tgt = _check_path(item.get("target") or src, f"paths[{i}].target")
        else:
            raise ZkSyncError(f"paths[{i}]: expected a path string or a dict with source and target, got {item!r}")
        if _zk.is_protected(src) and src != "/":
            raise ZkSyncError(f"paths[{i}]: {src} belongs to ZooKeeper itself and cannot be synced")
        if _zk.is_protected(tgt) and tgt != "/":
            raise ZkSyncError(f"paths[{i}].target: {tgt} belongs to ZooKeeper itself and cannot be written")
        paths.append(PathMap(src, tgt))
    for i, a in enumerate(paths):
        for j, b in enumerate(paths):
            if i < j and (_within(a.source, b.source) or _within(b.source, a.source)):
                raise ZkSyncError(f"paths[{j}]: source {b.source} overlaps paths[{i}] source {a.source}")
            if i < j and (_within(a.target, b.target) or _within(b.target, a.target)):
                raise ZkSyncError(f"paths[{j}]: target {b.target} overlaps paths[{i}] target {a.target}")
    excludes = opts.get("excludes")
    if excludes is None:
        excludes = list(DEFAULT_EXCLUDES)
    if not isinstance(excludes, list) or not all(isinstance(e, str) and e for e in excludes):
        raise ZkSyncError("excludes: must be a list of non-empty glob patterns on absolute paths")
    cfg = SyncConfig(paths=paths, excludes=list(excludes))
    cfg.delete_extra = bool(opts.get("delete_extra", True))
    cfg.allow_non_empty_target = bool(opts.get("allow_non_empty_target", False))
    if opts.get("batch_size") is not None:
        cfg.batch_size = _require_int(opts["batch_size"], "batch_size", 1, 20000)
    if opts.get("max_batch_bytes") is not None:
        cfg.max_batch_bytes = _require_int(opts["max_batch_bytes"], "max_batch_bytes", 1 << 20, 1 << 34)
    if opts.get("max_multi_bytes") is not None:
        cfg.max_multi_bytes = _require_int(opts["max_multi_bytes"], "max_multi_bytes", 4096, 1048000)
    if opts.get("write_window") is not None:
        cfg.write_window = _require_int(opts["write_window"], "write_window", 1, 64)
    if opts.get("read_sessions") is not None:
        cfg.read_sessions = _require_int(opts["read_sessions"], "read_sessions", 1, 16)
    if opts.get("max_backlog") is not None:
        cfg.max_backlog = _require_int(opts["max_backlog"], "max_backlog", 1000, 10_000_000)
    if opts.get("reconcile_interval") is not None:
        cfg.reconcile_interval = _require_float(opts["reconcile_interval"], "reconcile_interval", 0.0, 86400.0 * 30)
    if opts.get("drain_timeout") is not None:
        cfg.drain_timeout = _require_float(opts["drain_timeout"], "drain_timeout", 1.0, 86400.0)
    if opts.get("heartbeat_interval") is not None:
        cfg.heartbeat_interval = _require_float(opts["heartbeat_interval"], "heartbeat_interval", 0.05, 3600.0)
    if opts.get("max_differences") is not None:
        cfg.max_differences = _require_int(opts["max_differences"], "max_differences", 0, 10_000_000)
    hb = opts.get("heartbeat_path")
    if hb:
        hb = _check_path(hb, "heartbeat_path")
        if not any(p.covers(hb) for p in paths):
            raise ZkSyncError(f"heartbeat_path: {hb} must lie inside one of the synced source paths")
        cfg.heartbeat_path = hb
    else:
        root = paths[0].source
        cfg.heartbeat_path = (root.rstrip("/") or "") + "/zk_sync_heartbeat"
    return cfg


def check_ensembles(src_hosts: str, tgt_hosts: str, cfg: SyncConfig) -> None:
    """Refuse chroots and connect strings that do not parse. Whether source and target are one
    ensemble is asked of the servers once connected (:meth:`SyncEngine.check_identity`)."""
    del cfg
    for name, hosts in (("source.hosts", src_hosts), ("target.hosts", tgt_hosts)):
        try:
            _zk.split_hosts(hosts)
        except _zk.ZkError as exc:
            raise ZkSyncError(str(exc).replace("hosts:", f"{name}:", 1)) from exc
        if "/" in hosts:
            raise ZkSyncError(f"{name}: a chroot suffix is not supported by zk_sync; put the path in paths instead")


def overlapping_paths(cfg: SyncConfig) -> list[tuple[int, PathMap, PathMap]]:
    """``(i, p, q)`` for every source path ``p`` (``paths[i]``) and target path ``q`` that
    overlap as paths: harmless between two ensembles, a feedback loop within one."""
    return [
        (i, p, q)
        for i, p in enumerate(cfg.paths)
        for q in cfg.paths
        if _within(p.source, q.target) or _within(q.target, p.source)
    ]


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------

Acl = tuple  # ((scheme, id, perms), ...) sorted


class Node:
    __slots__ = ("acl", "children", "data", "path", "stat")

    def __init__(self, path: str, data: bytes | None, stat: tuple, acl: Acl, children: list[str] | None) -> None:
        self.path = path
        self.data = data
        self.stat = stat
        self.acl = acl
        self.children = children

    @property
    def ephemeral(self) -> bool:
        return bool(self.stat[S_EPHEMERAL])

    @property
    def cversion(self) -> int:
        return int(self.stat[S_CVERSION])


def _acl_tuple(entries: list) -> Acl:
    return tuple(sorted(entries))


def _check_redacted(node: Node, side: str) -> None:
    for scheme, ident, _perms in node.acl:
        if scheme == "digest" and ident.endswith(":x"):
            raise ZkSyncError(
                f"{side} {node.path}: ZooKeeper hid the digest ACL id {ident!r} because this session "
                "lacks ADMIN on the node; copying it would write a corrupted ACL. Connect the "
                f"{side} as the super user (DigestAuthenticationProvider.superDigest) or as the node's owner."
            )


def _kazoo_acls(acl: Acl) -> list:
    return [ACL(perms, Id(scheme, ident)) for scheme, ident, perms in acl]


def _kazoo_decoder(request: object) -> Callable[[int, bytes], object]:
    """Decode an answer to ``request`` as kazoo's connection does: an error code becomes its
    kazoo exception, a body the request's own result."""

    def decode(err: int, body: bytes) -> object:
        if err:
            raise kexc.EXCEPTIONS[err]()
        return request.deserialize(body, 0)  # type: ignore[attr-defined]

    return decode


def _child(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


def _parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def _depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


class Metrics:
    """Counters the engine keeps in any case, exported with prometheus-client when asked."""

    def __init__(self) -> None:
        self.events_applied = 0
        self.repairs = 0
        self.errors = 0
        self.nodes_synced = 0
        self.state = "idle"
        self.lag_samples: collections.deque[float] = collections.deque(maxlen=200_000)
        self._prom: dict = {}
        self._server: object = None

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        if not HAS_PROMETHEUS:
            raise ZkSyncError("metrics_port: the prometheus-client Python library is not installed")
        reg = prometheus_client.CollectorRegistry()
        self._prom = {
            "lag": prometheus_client.Histogram(
                "zk_sync_lag_seconds",
                "Heartbeat lag: source write to target write, seconds",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=reg,
            ),
            "last_lag": prometheus_client.Gauge("zk_sync_last_lag_seconds", "Latest heartbeat lag", registry=reg),
            "events": prometheus_client.Counter("zk_sync_events_applied", "Source changes applied", registry=reg),
            "repairs": prometheus_client.Counter(
                "zk_sync_repairs", "Differences found and repaired outside the watch path", registry=reg
            ),
            "errors": prometheus_client.Counter("zk_sync_errors", "Errors (retried or repaired)", registry=reg),
            "nodes": prometheus_client.Gauge(
                "zk_sync_nodes_synced", "Source nodes of the last copy", registry=reg
            ),
            "state": prometheus_client.Enum("zk_sync_state", "Engine state", states=list(STATES), registry=reg),
        }
        self._prom["state"].state(self.state)
        try:
            self._server = prometheus_client.start_http_server(port, addr=address, registry=reg)
        except OSError as exc:
            raise ZkSyncError(f"metrics_port: cannot listen on {address}:{port}: {exc}") from exc

    def close(self) -> None:
        server = self._server
        self._server = None
        if server is not None and isinstance(server, tuple):
            server[0].shutdown()
            server[0].server_close()

    def set_state(self, state: str) -> None:
        self.state = state
        if self._prom:
            self._prom["state"].state(state)

    def add(self, name: str, count: int = 1) -> None:
        setattr(self, name, getattr(self, name) + count)
        key = {"events_applied": "events", "repairs": "repairs", "errors": "errors"}.get(name)
        if key and self._prom and count:
            self._prom[key].inc(count)

    def set_nodes(self, count: int) -> None:
        self.nodes_synced = count
        if self._prom:
            self._prom["nodes"].set(count)

    def lag(self, seconds: float) -> None:
        self.lag_samples.append(seconds)
        if self._prom:
            self._prom["lag"].observe(seconds)
            self._prom["last_lag"].set(seconds)

    def lag_summary(self) -> dict:
        samples = sorted(self.lag_samples)
        if not samples:
            return {"samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

        def pct(q: float) -> float:
            return round(samples[min(len(samples) - 1, math.ceil(q * len(samples)) - 1)] * 1000, 2)

        return {
            "samples": len(samples),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": round(samples[-1] * 1000, 2),
        }


# ---------------------------------------------------------------------------------------------
# One side (source or target): a kazoo session, pipelined readers, the mirror loop's session
# ---------------------------------------------------------------------------------------------


class Side:
    def __init__(self, name: str, params: dict, read_sessions: int = 1) -> None:
        self.name = name
        self.params = params
        self.read_sessions = read_sessions
        self.client = None
        # pipelined read sessions, spread over the servers: a server answers one session's
        # requests one after another (a getACL each, per node), so bulk reads scale with sessions
        self.readers: list[wire.WireSession] = []
        self._read_pool: ThreadPoolExecutor | None = None
        self._fetch_lock = threading.Lock()
        # the session the mirror loop reads itself (see wire.LoopSession): the source's watch
        # and the reads it causes, the target's writes and the repairs' reads
        self.loop: wire.LoopSession | None = None
        self.event_seq = 0
        self._servers: list[tuple[str, int]] = []
        self._auth: list[tuple[str, str]] = []
        self._ssl: ssl.SSLContext | None = None

    def open(self) -> None:
        try:
            client = _zk.connect(self.params, connection_retry=RETRY_FOREVER)
        except _zk.ZkUnavailable as exc:
            raise ZkSyncUnavailable(f"{self.name}: {exc}") from exc
        except _zk.ZkError as exc:
            raise ZkSyncError(f"{self.name}: {exc}") from exc
        wire.speed_up(client)
        self.client = client
        auth = []
        if self.params.get("auth_username"):
            auth.append(("digest", f"{self.params['auth_username']}:{self.params.get('auth_password') or ''}"))
        ctx = None
        if self.params.get("use_ssl"):
            ctx = ssl.create_default_context(cafile=self.params.get("ca"))
            if not self.params.get("verify_certs", True):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if self.params.get("certfile"):
                ctx.load_cert_chain(
                    self.params["certfile"], self.params.get("keyfile"), self.params.get("keyfile_password")
                )
        servers = _zk.split_hosts(self.params["hosts"])
        self._servers, self._auth, self._ssl = servers, auth, ctx
        for i in range(self.read_sessions):
            first = i % len(servers)  # each session starts (and reconnects) at another server
            reader = wire.WireSession(
                servers[first:] + servers[:first],
                auth,
                timeout=self._timeout(),
                ssl_context=ctx,
            )
            self.readers.append(reader)
            try:
                reader.connect()
            except wire.WireAuthError as exc:
                raise ZkSyncError(f"{self.name}: {exc}") from exc
            except wire.WireError as exc:
                raise ZkSyncUnavailable(f"{self.name}: {exc}") from exc
        if len(self.readers) > 1:
            self._read_pool = ThreadPoolExecutor(
                max_workers=len(self.readers) - 1, thread_name_prefix=f"zk-sync-{self.name}-reads"
            )

    def _timeout(self) -> float:
        return float(self.params.get("timeout") or 10.0)

    def open_loop(self, on_event: Callable[[int, str], None] | None = None) -> wire.LoopSession:
        """The mirror loop's own session (not connected yet); from now on :meth:`submit` and
        :meth:`read_ordered` use it instead of the kazoo session."""
        if self.loop is None:
            self.loop = wire.LoopSession(
                self._servers, on_event, self.counter, auth=self._auth, timeout=self._timeout(), ssl_context=self._ssl
            )
        return self.loop

    def loop_lost(self) -> bool:
        return self.loop is not None and self.loop.lost.is_set()

    def submit(self, request: object, callback: Callable[[object], None] | None = None) -> wire.Reply:
        """Send a kazoo request (Create, SetData, Transaction...) on the loop session when there
        is one, else on the kazoo session; the reply is answered in order with the others."""
        loop = self.loop
        if loop is None:
            return wire.call(self.client, request, self.counter, callback)
        return loop.submit(request.type, request.serialize(), _kazoo_decoder(request), callback)  # type: ignore[attr-defined]

    def reconnect_loop(self) -> bool:
        """One attempt to connect a broken loop session again; True when it is connected (or
        there is none). Refused credentials are the user's problem, not a retry's."""
        loop = self.loop
        if loop is None or not loop.lost.is_set():
            return True
        try:
            loop.connect()
        except wire.WireAuthError as exc:
            raise ZkSyncError(f"{self.name}: {exc}") from exc
        except wire.WireError as exc:
            LOG.warning("%s: reconnecting the mirror's session failed (%s)", self.name, describe_error(exc))
            return False
        return True

    def wait_connected(self, timeout: float) -> None:
        """Wait (up to ``timeout``) until the session writes go through can carry them again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.loop is None:
                if getattr(self.client, "connected", False):
                    return
                time.sleep(0.1)  # kazoo reconnects in its own thread; poll its state
            elif self.reconnect_loop():
                return
            else:
                time.sleep(0.2)  # no server serves yet: back off

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        if self._read_pool is not None:
            self._read_pool.shutdown(wait=True)
            self._read_pool = None
        for reader in self.readers:
            reader.close()
        self.readers = []
        _zk.close(self.client)
        self.client = None

    def counter(self) -> int:
        return self.event_seq

    # -- bulk reads through the pipelined sessions --------------------------------------------

    def fetch(self, paths: list[str]) -> list[Node | None]:
        """Data, stat, ACL and children of each path (None where it does not exist).

        Large batches are split across the read sessions and read in parallel; one fetch at a
        time per side (a session carries one exchange at a time).
        """
        if not self.readers:
            raise ZkSyncError(f"{self.name}: not connected")
        with self._fetch_lock:
            parts = min(len(self.readers), max(1, len(paths) // MIN_READ_PART))
            pool = self._read_pool  # there is one when there are several readers
            if parts == 1 or pool is None:
                return self._fetch_on(self.readers[0], paths)
            step = -(-len(paths) // parts)
            others = [
                pool.submit(self._fetch_on, self.readers[k], paths[k * step : (k + 1) * step]) for k in range(1, parts)
            ]
            try:
                out = self._fetch_on(self.readers[0], paths[:step])
            finally:
                rest = [f.result() for f in others]  # never leave a session mid-exchange
            for nodes in rest:
                out.extend(nodes)
            return out

    def _fetch_on(self, reader: wire.WireSession, paths: list[str]) -> list[Node | None]:
        out: list[Node | None] = []
        for start in range(0, len(paths), 2000):
            out.extend(self._fetch_chunk(reader, paths[start : start + 2000]))
        return out

    def _fetch_chunk(self, reader: wire.WireSession, paths: list[str]) -> list[Node | None]:
        # The getACLs go first and ONE multiRead last: ZooKeeper 3.8 was seen to leave a
        # request unanswered when it followed a multiRead in the same pipeline.
        reqs: list[tuple[int, bytes]] = [(wire.OP_GET_ACL, wire.path_payload(p)) for p in paths]
        ops = []
        for p in paths:
            ops.append((wire.OP_GET_DATA, p))
            ops.append((wire.OP_GET_CHILDREN, p))
        reqs.append((wire.OP_MULTI_READ, wire.MultiRead(ops).serialize()))
        try:
            answers = reader.call_many(reqs)
        except wire.WireError as exc:
            raise ZkSyncError(f"{self.name}: {exc}") from exc
        err, body = answers[-1]
        if err:
            raise ZkSyncError(f"{self.name}: multiRead refused with error {err}")
        items = wire.MultiRead.deserialize(body, 0)
        out: list[Node | None] = []
        for i, p in enumerate(paths):
            got = items[2 * i]
            kids = items[2 * i + 1]
            aerr, abody = answers[i]
            if isinstance(got, int) or isinstance(kids, int) or aerr:
                codes = [c for c in (got, kids, aerr) if isinstance(c, int) and c]
                if any(c == wire.ERR_NO_AUTH for c in codes):
                    raise ZkSyncError(
                        f"{self.name} {p}: not authorized to read it (NoAuth); connect as a user the ACL allows"
                    )
                if all(c == wire.ERR_NO_NODE for c in codes):
                    out.append(None)
                    continue
                raise ZkSyncError(f"{self.name} {p}: read failed with ZooKeeper error {codes}")
            acl, _off = wire.read_acl(abody, 0)
            out.append(Node(p, got[0], got[1], _acl_tuple(acl), kids))
        return out

    def sync(self, path: str) -> None:
        """Make every read session's server catch up with the leader (for verify)."""
        with self._fetch_lock:
            for reader in self.readers:
                try:
                    reader.call_many([(wire.OP_SYNC, wire.path_payload(path))])
                except wire.WireError as exc:
                    raise ZkSyncError(f"{self.name}: {exc}") from exc

    # -- ordered reads: on the loop session when there is one, else on the kazoo session -------

    def read_ordered(
        self, paths: list[str], timeout: float, acl_paths: set[str] | None = None
    ) -> tuple[list[Node | None], list[int]]:
        """Like :meth:`fetch`, ordered with the watch events (source) or the writes (target):
        on the loop session, or the kazoo session before there is one.

        ACLs are read for ``acl_paths`` (default: every path; others get an empty ACL).
        Returns the nodes and, per node, the number of watch events seen before the answer
        it was read from: the node is as it was after those events. An ACL is read after
        the data (``multiRead`` has no getACL): when it belongs to another life of the node
        (deleted, or deleted and recreated, in between: its ``czxid`` differs), the node is
        read again, so data, children and ACL always describe one moment's node.
        """
        out: list[Node | None] = [None] * len(paths)
        seens = [0] * len(paths)
        todo = list(range(len(paths)))
        for _round in range(5):
            ops = []
            for i in todo:
                ops.append((wire.OP_GET_DATA, paths[i]))
                ops.append((wire.OP_GET_CHILDREN, paths[i]))
            # 800 ops: both reads of a path always share one multiRead
            chunks = [ops[j : j + 800] for j in range(0, len(ops), 800)]
            with_acl = [i for i in todo if acl_paths is None or paths[i] in acl_paths]
            exchange = self._exchange_loop if self.loop is not None else self._exchange_kazoo
            answered, acls = exchange(chunks, [paths[i] for i in with_acl], timeout)
            acl_of = dict(zip(with_acl, acls, strict=True))
            items: list = []
            item_seen: list[int] = []
            for got_items, seen in answered:
                items.extend(got_items)
                item_seen.extend([seen] * len(got_items))
            again = []
            for k, i in enumerate(todo):
                got, kids = items[2 * k], items[2 * k + 1]
                seens[i] = item_seen[2 * k]
                if isinstance(got, int) or isinstance(kids, int):
                    if any(c == wire.ERR_NO_AUTH for c in (got, kids) if isinstance(c, int)):
                        raise ZkSyncError(f"{self.name} {paths[i]}: not authorized to read it (NoAuth)")
                    out[i] = None  # absent when read (a later ACL answer does not matter)
                    continue
                acl: Acl = ()
                if i in acl_of:
                    known = acl_of[i]
                    if known is None or known[1] != got[1][0]:
                        # deleted (or deleted and recreated: another czxid) after its data was read
                        again.append(i)
                        continue
                    acl = known[0]
                out[i] = Node(paths[i], got[0], got[1], acl, kids)
            if not again:
                return out, seens
            todo = again
        raise ZkSyncError(f"{self.name} {paths[todo[0]]}: changed under every read of it, five times in a row")

    def _exchange_kazoo(
        self, chunks: list[list[tuple[int, str]]], acl_paths: list[str], timeout: float
    ) -> tuple[list[tuple[list, int]], list[tuple[Acl, int] | None]]:
        """The reads of :meth:`read_ordered` on the kazoo session: ``[(items, seen)]`` per
        multiRead, ``(acl, czxid)`` (None: no node) per ACL path."""
        replies = [wire.call(self.client, wire.MultiRead(chunk), self.counter) for chunk in chunks]
        acl_replies = [wire.call(self.client, GetACL(p), self.counter) for p in acl_paths]
        answered = []
        for r in replies:
            answered.append((cast(list, r.get(timeout)), r.events_before))
        acls: list[tuple[Acl, int] | None] = []
        for r in acl_replies:
            try:
                answer = cast(tuple, r.get(timeout))
            except kexc.NoNodeError:
                acls.append(None)
                continue
            acls.append((_acl_tuple([(a.id.scheme, a.id.id, a.perms) for a in answer[0]]), answer[1].czxid))
        return answered, acls

    def _exchange_loop(
        self, chunks: list[list[tuple[int, str]]], acl_paths: list[str], timeout: float
    ) -> tuple[list[tuple[list, int]], list[tuple[Acl, int] | None]]:
        """:meth:`_exchange_kazoo` on the loop session, read by this thread."""
        loop = self.loop
        if loop is None:
            raise ZkSyncError(f"{self.name}: no loop session")
        reqs = [(wire.OP_MULTI_READ, wire.MultiRead(chunk).serialize()) for chunk in chunks]
        reqs += [(wire.OP_GET_ACL, wire.path_payload(p)) for p in acl_paths]
        answers = loop.wait(loop.send(reqs), timeout)
        answered = []
        for err, body, seen in answers[: len(chunks)]:
            if err:
                raise ZkSyncError(f"{self.name}: multiRead refused with error {err}")
            answered.append((wire.MultiRead.deserialize(body, 0), seen))
        acls: list[tuple[Acl, int] | None] = []
        for p, (err, body, _seen) in zip(acl_paths, answers[len(chunks) :], strict=True):
            if err == wire.ERR_NO_NODE:
                acls.append(None)
                continue
            if err:
                raise ZkSyncError(f"{self.name} {p}: reading its ACL failed with ZooKeeper error {err}")
            acl, off = wire.read_acl(body, 0)
            czxid = wire.STAT.unpack_from(body, off)[0]
            acls.append((_acl_tuple(acl), czxid))
        return answered, acls


# ---------------------------------------------------------------------------------------------
# Writes: ordered multi batches, a few in flight
# ---------------------------------------------------------------------------------------------


class Op:
    __slots__ = ("acl", "data", "kind", "pairs", "path")

    def __init__(self, kind: str, path: str, data: bytes | None = None, acl: Acl = (), pairs: int = 0) -> None:
        self.kind = kind  # create | set | acl | delete | filler
        self.path = path
        self.data = data
        self.acl = acl
        self.pairs = pairs

    def size(self) -> int:
        return (
            64 + len(self.path.encode()) + (len(self.data) if self.data else 0) + 64 * len(self.acl) + 80 * self.pairs
        )

    def requests(self) -> list:
        if self.kind == "create":
            return [Create(self.path, self.data, _kazoo_acls(self.acl), 0)]
        if self.kind == "set":
            return [SetData(self.path, self.data, -1)]
        if self.kind == "delete":
            return [Delete(self.path, -1)]
        if self.kind == "filler":
            filler = _child(self.path, FILLER_NAME)
            out: list = []
            for _i in range(self.pairs):
                out += [Create(filler, b"", _kazoo_acls((("world", "anyone", 31),)), 0), Delete(filler, -1)]
            return out
        raise ValueError(self.kind)


def _failed_op(ops: list[Op], result: list) -> str:
    """The op whose request failed first in a multi's answer, and the batch's first ops (logs)."""
    i = 0
    for n, op in enumerate(ops):
        width = 2 * op.pairs if op.kind == "filler" else 1
        if any(isinstance(r, Exception) and not isinstance(r, kexc.RolledBackError) for r in result[i : i + width]):
            head = ", ".join(f"{o.kind} {o.path}" for o in ops[:8])
            return f"{op.kind} {op.path} (op {n} of {len(ops)}: {head})"
        i += width
    return f"a batch of {len(ops)} op(s) ({', '.join(f'{o.kind} {o.path}' for o in ops[:8])})"


class Writer:
    """Send :class:`Op` batches to the target in order, ``window`` requests in flight."""

    def __init__(
        self,
        side: Side,
        cfg: SyncConfig,
        on_done: Callable[[list[Op]], None],
        on_fail: Callable[[list[Op], BaseException | None], None],
    ) -> None:
        self.side = side
        self.cfg = cfg
        self.on_done = on_done
        self.on_fail = on_fail
        self.batch: list[Op] = []
        self.batch_bytes = 0
        self.batch_reqs = 0
        self.inflight: collections.deque = collections.deque()
        self.on_answer: Callable[[list[Op], object], None] | None = None

    def add(self, op: Op) -> None:
        if op.kind == "acl":  # multi cannot carry setACL: its own request, in order
            self.flush()
            reply = self.side.submit(SetACL(op.path, _kazoo_acls(op.acl), -1))
            self._track([op], reply)
            return
        size = op.size()
        nreq = 2 * op.pairs if op.kind == "filler" else 1
        if self.batch and (
            self.batch_bytes + size > self.cfg.max_multi_bytes or self.batch_reqs + nreq > self.cfg.max_multi_ops
        ):
            self.flush()
        self.batch.append(op)
        self.batch_bytes += size
        self.batch_reqs += nreq
        if op.kind == "filler" and nreq > self.cfg.max_multi_ops:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        self.batch_bytes = self.batch_reqs = 0
        reqs: list = []
        for op in batch:
            reqs.extend(op.requests())
        reply = self.side.submit(Transaction(reqs), self._watch_paths(batch))
        self._track(batch, reply)

    def _watch_paths(self, batch: list[Op]) -> Callable[[object], None] | None:
        """A callback run by whoever reads the batch's answer, when it arrives."""
        if self.on_answer is None:
            return None
        on_answer = self.on_answer
        return lambda result: on_answer(batch, result)

    def _track(self, ops: list[Op], reply: wire.Reply) -> None:
        self.inflight.append((ops, reply))
        while len(self.inflight) > self.cfg.write_window:
            self._complete_one()

    def _complete_one(self) -> None:
        ops, reply = self.inflight.popleft()
        try:
            result = reply.get(self.cfg.io_timeout)
        except Exception as exc:  # every failure is handled the same way: repair
            self.on_fail(ops, exc)
            return
        if isinstance(result, list) and any(isinstance(r, Exception) for r in result):
            first = next(
                (r for r in result if isinstance(r, Exception) and not isinstance(r, kexc.RolledBackError)),
                next(r for r in result if isinstance(r, Exception)),
            )
            failed = MultiFailed(first, _failed_op(ops, result))
            if LOG.isEnabledFor(logging.DEBUG):
                LOG.debug("multi failed: %s", failed)
            self.on_fail(ops, failed)
            return
        self.on_done(ops)

    def poll(self) -> None:
        while self.inflight and self.inflight[0][1].ready():
            self._complete_one()

    def drain(self) -> None:
        self.flush()
        while self.inflight:
            self._complete_one()


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@dataclass
class Pair:
    src_path: str
    tgt_path: str
    src: Node | None
    tgt: Node | None


class SyncEngine:
    def __init__(self, cfg: SyncConfig, source: dict, target: dict, metrics: Metrics | None = None) -> None:
        self.cfg = cfg
        check_ensembles(source["hosts"], target["hosts"], cfg)
        self.src = Side("source", source, cfg.read_sessions)
        self.tgt = Side("target", target, cfg.read_sessions)
        self.metrics = metrics or Metrics()
        self.events: collections.deque = collections.deque()
        self.overflow = False
        self.tgt_reconnected = threading.Event()
        self.watching = False
        self.repairs: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.writer: Writer = Writer(self.tgt, cfg, on_done=lambda ops: None, on_fail=self._mirror_fail)
        self.writer.on_answer = self._mirror_answer
        # the exclude globs as one regex (fnmatchcase per pattern costs more than a batch's I/O)
        self._excludes_re = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in cfg.excludes) or "(?!)")
        self._excluded_memo: dict[str, bool] = {}
        self._hb_target: str | None = None
        # This run's tag, in the heartbeat it writes on the source: a source node other than the
        # heartbeat that holds it was written by this mirror on the target (one ensemble). And
        # the heartbeat's version: above what this run's own sets explain, its target writes land
        # on the heartbeat itself (same path on one ensemble).
        self.run_id = secrets.token_hex(8)
        self._run_tag = self.run_id.encode()
        self._hb_version: int | None = None
        self._hb_sets = 0
        self.same_ensemble: bool | None = None  # what check_identity found (None: not asked)
        self.identity = ""
        # the walk's reads of each side run beside each other (and beside the caller's work)
        self._src_reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zk-sync-source-walk")
        self._tgt_reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zk-sync-target-walk")
        self._repairing = False
        # what preflight found at each target path, when every one was empty (else None); and
        # the missing parents of target paths the copy created: a failed copy removes both
        self._target_before: dict[str, Node | None] | None = None
        self._created_parents: list[str] = []
        self._readers_behind = False  # the watch moved: sync the read sessions before a walk
        self.failed_paths: dict[str, int] = {}
        self.ephemerals: set[str] = set()  # source ephemerals seen: their deletes need no op
        self.cv_credit: dict[str, int] = {}  # parent -> cversion the target is ahead (-1) or owes
        # (max seen, {path: (present, seen)}) of recent event reads that reflect queued events
        self._reads: collections.deque[tuple[int, dict[str, tuple[bool, int]]]] = collections.deque()

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        self.metrics.set_state("connecting")
        self.src.open()
        self.tgt.open()
        # writes in flight when the target's session broke may be lost: walk again after it
        self.tgt.client.add_listener(self._listener(self.tgt_reconnected))  # type: ignore[attr-defined]
        self.check_identity()

    def check_identity(self) -> None:
        """Refuse, before any write, source and target paths that overlap on one ensemble.

        Whether the two connect strings reach one ensemble is asked of the servers, not read
        from the addresses (DNS names, proxies, NAT and members missing from a list all hide
        it): a session opened on a source server is resumed on a target server
        (:func:`wire.same_ensemble`), which takes it over only when its ensemble created it.
        Decisive both ways for ZooKeeper's (default) global sessions, it writes nothing, and
        costs two handshakes. With ``localSessionsEnabled`` a session is known to its server
        only, so "unknown" is cross-checked: a source root that the target also holds, created
        by the same transaction (``czxid`` and ``ctime``), means one history, and is refused as
        undecidable. Only asked when some source and target path overlap as paths.
        """
        overlaps = overlapping_paths(self.cfg)
        if not overlaps:
            return
        timeout = max(self.src._timeout(), self.tgt._timeout())
        same, why = wire.same_ensemble(self.src._servers, self.tgt._servers, timeout, self.src._ssl, self.tgt._ssl)
        self.same_ensemble, self.identity = same, why
        if same is None:
            raise ZkSyncUnavailable(
                f"cannot tell whether source and target are one ensemble ({why}); nothing was written: "
                "run again once the target's servers accept client sessions"
            )
        if same:
            i, p, q = overlaps[0]
            raise ZkSyncError(
                f"paths[{i}]: source {p.source} and target {q.target} overlap on the same ensemble ({why}); "
                "nothing was written: sync into another ensemble, or into a path outside every source path"
            )
        roots = sorted({p.source for _i, p, _q in overlaps if p.source != "/"})
        for root, s, t in zip(roots, self.src.fetch(roots), self.tgt.fetch(roots), strict=True):
            if s is not None and t is not None and s.stat[0] == t.stat[0] and s.stat[2] == t.stat[2]:
                raise ZkSyncError(
                    f"cannot tell whether source and target are one ensemble: {why}, yet both hold {root} "
                    f"created by the same transaction (czxid 0x{s.stat[0]:x}, ctime {s.stat[2]}). Either one "
                    "ensemble with localSessionsEnabled=true (sessions known to one server only; turn it off, "
                    f"ZooKeeper's default), or a target restored from the source's data (remove {root} from it, "
                    "e.g. zk_node state=absent recursive=true, and let zk_sync copy it); nothing was written"
                )

    def close(self) -> None:
        self._src_reads.shutdown(wait=True)
        self._tgt_reads.shutdown(wait=True)
        self.src.close()
        self.tgt.close()

    def __enter__(self) -> SyncEngine:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _listener(flag: threading.Event) -> Callable:
        lost = {"value": False}

        def listener(state: str) -> None:
            if state in (KazooState.SUSPENDED, KazooState.LOST):
                lost["value"] = True
            elif state == KazooState.CONNECTED and lost["value"]:
                lost["value"] = False
                flag.set()

        return listener

    # -- helpers ------------------------------------------------------------------------------

    def excluded(self, path: str) -> bool:
        return self._excludes_re.match(path) is not None

    def _excluded_or_below(self, path: str) -> bool:
        """``path`` or one of its ancestors (not ``/``) is excluded; remembered per path."""
        hit = self._excluded_memo.get(path)
        if hit is None:
            hit = self.excluded(path) or (_depth(path) > 1 and self._excluded_or_below(_parent(path)))
            if len(self._excluded_memo) >= 100_000:
                self._excluded_memo.clear()
            self._excluded_memo[path] = hit
        return hit

    def mapping_for(self, src_path: str) -> PathMap | None:
        for m in self.cfg.paths:
            if m.covers(src_path):
                return m
        return None

    def preflight(self) -> dict:
        """Roots exist on the source; the target is empty (or allowed, or our own, or already
        equal to the source: a copy would change nothing, so a rerun is not refused)."""
        roots = self.src.fetch([m.source for m in self.cfg.paths])
        for i, (m, node) in enumerate(zip(self.cfg.paths, roots, strict=True)):
            if node is None:
                raise ZkSyncError(f"paths[{i}]: source {m.source} does not exist on the source ensemble")
            _check_redacted(node, "source")
        tnodes = self.tgt.fetch([m.target for m in self.cfg.paths])
        non_empty = []
        for m, node in zip(self.cfg.paths, tnodes, strict=True):
            if node is not None and (node.children or node.data):
                non_empty.append(m.target)
        # an empty target can be put back as it was if the copy fails midway
        self._target_before = None if non_empty else dict(zip([m.target for m in self.cfg.paths], tnodes, strict=True))
        resumable = False
        if non_empty and self.cfg.heartbeat_path:
            hb_map = self.mapping_for(self.cfg.heartbeat_path)
            if hb_map is not None:
                resumable = self.tgt.fetch([hb_map.to_target(self.cfg.heartbeat_path)])[0] is not None
        identical = False
        if non_empty and not self.cfg.allow_non_empty_target and not resumable:
            differs = self.first_difference()
            if differs is not None:
                raise ZkSyncError(
                    "target: {} already hold(s) data that the copy would overwrite or delete (first: {} {}); "
                    "set allow_non_empty_target: true to sync into it anyway".format(
                        ", ".join(non_empty), differs["target_path"], differs["kind"]
                    )
                )
            identical = True  # what a copy would leave: nothing to overwrite, nothing to refuse
        return {"target_non_empty": non_empty, "resumed": resumable, "identical": identical}

    def first_difference(self) -> dict | None:
        """The first difference a copy would fix (as in ``verify``), or None when there is none."""
        for pairs in self.walk(readahead=True):
            for pair in pairs:
                kinds = self.diff(pair)
                if kinds:
                    return self._describe(pair, kinds[0])
        return None

    # -- walking both trees -------------------------------------------------------------------

    def walk(
        self, roots: list[PathMap] | None = None, batch_size: int | None = None, readahead: bool = False
    ) -> Iterator[list[Pair]]:
        """Both trees in pre-order, in batches (bounded memory: a DFS stack of names).

        With ``readahead`` the next batch is read while the caller works on this one (copy and
        verify); the reconciliation walk of a mirror does without, so that its reads never
        compete with the events it applies. Two batches then share ``max_batch_bytes``.
        """
        stack: list[tuple[str, str, bool, bool]] = []
        for m in reversed(roots or self.cfg.paths):
            stack.append((m.source, m.target, True, True))
        size = min(64, batch_size or self.cfg.batch_size)
        limit = batch_size or self.cfg.batch_size
        budget = self.cfg.max_batch_bytes // 2 if readahead else self.cfg.max_batch_bytes
        ahead: tuple[list, Future, Future | None] | None = None
        while stack or ahead is not None:
            take, src_read, tgt_read = ahead or self._read_batch(stack, size)
            ahead = None
            src_nodes = dict(zip([t[0] for t in take if t[2]], src_read.result(), strict=True))
            tgt_nodes = dict(zip([t[1] for t in take if t[3]], tgt_read.result() if tgt_read else [], strict=True))
            pairs, nbytes = self._pair_up(take, src_nodes, tgt_nodes, stack)
            # adapt the batch to the bytes read: memory stays near max_batch_bytes
            if nbytes > budget:
                size = max(1, size // 2)
            elif nbytes * 2 < budget:
                size = min(limit, size * 2)
            if readahead and stack:
                ahead = self._read_batch(stack, size)
            yield pairs

    def _pair_up(
        self, take: list[tuple[str, str, bool, bool]], src_nodes: dict, tgt_nodes: dict, stack: list
    ) -> tuple[list[Pair], int]:
        """The batch's pairs (and bytes read); pushes the children to visit onto ``stack``."""
        pairs: list[Pair] = []
        nbytes = 0
        for sp, tp, has_s, has_t in take:
            s = src_nodes.get(sp) if has_s else None
            t = tgt_nodes.get(tp) if has_t else None
            if s is not None:
                _check_redacted(s, "source")
                nbytes += len(s.data or b"")
                if s.ephemeral:
                    self.remember_ephemeral(sp)
                    s = None
            if t is not None:
                _check_redacted(t, "target")
                nbytes += len(t.data or b"")
            pairs.append(Pair(sp, tp, s, t))
            if s is None or (t is not None and t.ephemeral):
                continue
            s_kids = set(s.children or ())
            t_kids = set(t.children or ()) if t is not None else set()
            for name in sorted(s_kids | t_kids, reverse=True):
                csp = _child(sp, name)
                if self.excluded(csp):
                    continue
                stack.append((csp, _child(tp, name), name in s_kids, name in t_kids))
        return pairs, nbytes

    def _read_batch(self, stack: list[tuple[str, str, bool, bool]], size: int) -> tuple[list, Future, Future | None]:
        """Take the next ``size`` entries off the walk's stack and start reading both sides."""
        take = stack[-size:]
        del stack[-size:]
        take.reverse()
        src_paths = [t[0] for t in take if t[2]]
        tgt_paths = [t[1] for t in take if t[3]]
        src_read = self._src_reads.submit(self.src.fetch, src_paths)
        tgt_read = self._tgt_reads.submit(self.tgt.fetch, tgt_paths) if tgt_paths else None
        return take, src_read, tgt_read

    def diff(self, pair: Pair) -> list[str]:
        s, t = pair.src, pair.tgt
        if s is None:
            # with delete_extra off, target nodes the source lacks are the user's to keep
            return ["extra"] if t is not None and not t.ephemeral and self.cfg.delete_extra else []
        if t is None:
            return ["missing"]
        if t.ephemeral:
            return ["ephemeral_on_target"]
        kinds = []
        if s.data != t.data:
            kinds.append("data")
        if s.acl != t.acl:
            kinds.append("acl")
        if t.cversion < s.cversion:
            kinds.append("cversion")
        return kinds

    # -- copy ---------------------------------------------------------------------------------

    def copy(self, dry_run: bool = False) -> dict:
        """One pass making the target subtrees equal to the source ones.

        Problems such as a node the source session may not read only show up on the way, after
        earlier batches were written. When :meth:`preflight` found every target subtree empty, a
        failed pass is undone, so a refused copy leaves the target as it was.
        """
        failures: list[str] = []

        def on_fail(ops: list[Op], exc: BaseException | None) -> None:
            self.metrics.add("errors")
            if isinstance(exc, CONNECTION_ERRORS) and self._resend(ops):
                return
            for op in ops:
                self._ensure_op(op, failures)

        writer = Writer(self.tgt, self.cfg, on_done=lambda ops: None, on_fail=on_fail)
        try:
            return self._copy_pass(writer, failures, dry_run)
        except Exception as exc:
            if dry_run or self._target_before is None:
                raise
            outcome = self._undo_copy(writer)
            if isinstance(exc, ZkSyncError):
                raise ZkSyncError(f"{exc}; {outcome}") from exc
            LOG.error("copy failed (%s); %s", describe_error(exc), outcome)
            raise

    def _copy_pass(  # noqa: PLR0912,PLR0915  # one walk, every case inline
        self, writer: Writer, failures: list[str], dry_run: bool
    ) -> dict:
        self.metrics.set_state("copying")
        started = time.monotonic()
        stats: collections.Counter[str] = collections.Counter()
        # parent target path -> [source cversion, target cversion before, child ops]
        dirs: dict[str, list[int]] = {}
        warnings: list[str] = []
        if not dry_run:
            self._ensure_target_parents(writer)
        for pairs in self.walk(readahead=True):
            for pair in pairs:
                stats["nodes_compared"] += 1
                s, t = pair.src, pair.tgt
                parent = _parent(pair.tgt_path)
                if s is None:
                    if t is not None and not t.ephemeral and self.cfg.delete_extra:
                        stats["deleted"] += 1
                        if parent in dirs:
                            dirs[parent][2] += 1
                        if not dry_run:
                            self._delete_tree(writer, pair.tgt_path)
                    continue
                stats["nodes"] += 1
                if t is None:
                    stats["created"] += 1
                    if parent in dirs:
                        dirs[parent][2] += 1
                    if not dry_run:
                        writer.add(Op("create", pair.tgt_path, s.data, s.acl))
                elif t.ephemeral:
                    warnings.append(
                        f"{pair.tgt_path}: an ephemeral node on the target holds the place of a source node"
                    )
                    continue
                else:
                    if s.data != t.data:
                        stats["data_updated"] += 1
                        if not dry_run:
                            writer.add(Op("set", pair.tgt_path, s.data))
                    if s.acl != t.acl:
                        stats["acl_updated"] += 1
                        if not dry_run:
                            writer.add(Op("acl", pair.tgt_path, acl=s.acl))
                if s.stat[S_NUMCHILDREN] or s.cversion:
                    dirs[pair.tgt_path] = [s.cversion, t.cversion if t is not None else 0, 0]
            if len(dirs) > 5_000_000:  # pragma: no cover - pathological trees
                raise ZkSyncError("more than 5 million directories: raise batch memory or split paths")
        for tpath, (s_cv, t_cv, child_ops) in dirs.items():
            expected = t_cv + child_ops
            need = s_cv - expected
            if need > 0:
                stats["cversion_fixed"] += 1
                if not dry_run:
                    pairs_needed = (need + 1) // 2
                    while pairs_needed > 0:
                        chunk = min(pairs_needed, self.cfg.max_multi_ops // 2)
                        writer.add(Op("filler", tpath, pairs=chunk))
                        pairs_needed -= chunk
            elif need < -1 and len(warnings) < 100:
                warnings.append(f"{tpath}: target cversion {expected} is ahead of the source's {s_cv}")
        if not dry_run:
            writer.drain()
        self.metrics.set_nodes(stats["nodes"])
        changed = any(stats[k] for k in ("created", "data_updated", "acl_updated", "deleted", "cversion_fixed"))
        if failures:
            raise ZkSyncError("copy failed: " + "; ".join(failures[:10]))
        return {
            "changed": changed,
            "nodes": stats["nodes"],
            "created": stats["created"],
            "data_updated": stats["data_updated"],
            "acl_updated": stats["acl_updated"],
            "deleted": stats["deleted"],
            "cversion_fixed": stats["cversion_fixed"],
            "warnings": warnings[:100],
            "seconds": round(time.monotonic() - started, 3),
        }

    def _ensure_target_parents(self, writer: Writer) -> None:
        for m in self.cfg.paths:
            missing = []
            for p in _zk.parent_paths(m.target):
                if self.tgt.client.exists(p) is None:  # type: ignore[attr-defined]
                    missing.append(p)
            for p in missing:
                writer.add(Op("create", p, b"", (("world", "anyone", 31),)))
            self._created_parents.extend(missing)
        writer.drain()

    def _undo_copy(self, writer: Writer) -> str:
        """Put the (empty) target subtrees back as :meth:`preflight` found them; says how it went."""
        before = self._target_before or {}

        def send(request: object) -> object:
            return self.tgt.submit(request).get(self.cfg.io_timeout)

        try:
            with contextlib.suppress(Exception):
                writer.drain()  # nothing of the failed pass may land after the undo
            for m in reversed(self.cfg.paths):
                node = before.get(m.target)
                if node is None:
                    self._delete_subtree_now(m.target, send)
                    continue
                (now,), _seen = self.tgt.read_ordered([m.target], self.cfg.io_timeout, set())
                for child in now.children or () if now is not None else ():
                    self._delete_subtree_now(_child(m.target, child), send)
                send(SetData(m.target, node.data, -1))
                send(SetACL(m.target, _kazoo_acls(node.acl), -1))
            for p in reversed(self._created_parents):
                with contextlib.suppress(kexc.NoNodeError, kexc.NotEmptyError):
                    send(Delete(p, -1))
        except Exception as exc:  # reported with the copy's own error
            LOG.error("undoing the failed copy failed: %s", describe_error(exc))
            return (
                f"undoing the partial copy failed too ({_zk.explain(exc)}): the target holds part of the "
                "copy; a new copy needs allow_non_empty_target: true"
            )
        return "what the failed copy had written was removed: the target is as it was"

    @staticmethod
    def _subtree(root: str, read: Callable[[list[str]], list[Node | None]]) -> list[str]:
        """The paths of a subtree as ``read`` finds them, every parent before its children."""
        order: list[str] = []
        stack = [root]
        while stack:
            batch = stack[-500:]
            del stack[-500:]
            for node in read(batch):
                if node is None:
                    continue
                order.append(node.path)
                stack.extend(_child(node.path, c) for c in node.children or ())
        return order

    def _delete_tree(self, writer: Writer, tgt_root: str) -> None:
        """Delete a target subtree deepest first (its nodes are listed with the fast reader)."""
        for p in reversed(self._subtree(tgt_root, self.tgt.fetch)):
            writer.add(Op("delete", p))

    def _ensure_op(self, op: Op, failures: list[str]) -> None:
        """Replay one op of a failed multi on its own, tolerating what is already there.

        A lost connection (a busy server missing kazoo's ping deadline, a leader election) is
        waited out and the op retried; a retried filler pair may land twice, which leaves the
        counter ahead, never behind.
        """
        last: BaseException | None = None
        for _attempt in range(6):
            try:
                self._ensure_once(op)
                return
            except CONNECTION_ERRORS as exc:
                last = exc
                self.tgt.wait_connected(30.0)
            except Exception as exc:  # reported to the user below
                last = exc
                break
        failures.append(f"{op.kind} {op.path}: {_zk.explain(last, op.path, self.tgt.params) if last else '?'}")

    def _resend(self, ops: list[Op]) -> bool:
        """After a lost connection: send the same multi again; True once it is applied.

        A multi is all or nothing, so if the first attempt was applied before the connection
        dropped, the resend fails on its FIRST op (the node exists, or is already deleted):
        that also means applied. Any other outcome falls back to op-by-op replay.
        """
        if any(op.kind == "acl" for op in ops):
            return False
        reqs: list = []
        for op in ops:
            reqs.extend(op.requests())
        for _attempt in range(3):
            self.tgt.wait_connected(30.0)
            try:
                result = self.tgt.submit(Transaction(reqs)).get(self.cfg.io_timeout)
            except CONNECTION_ERRORS:
                continue
            if not isinstance(result, list):
                return False
            errors = [(i, r) for i, r in enumerate(result) if isinstance(r, Exception)]
            if not errors:
                return True
            i, first = next((e for e in errors if not isinstance(e[1], kexc.RolledBackError)), errors[0])
            return i == 0 and isinstance(first, (kexc.NodeExistsError, kexc.NoNodeError))
        return False

    def _ensure_once(self, op: Op) -> None:
        def send(request: object) -> object:
            return self.tgt.submit(request).get(self.cfg.io_timeout)

        if op.kind == "create":
            try:
                send(Create(op.path, op.data, _kazoo_acls(op.acl), 0))
            except kexc.NodeExistsError:
                send(SetData(op.path, op.data, -1))
                send(SetACL(op.path, _kazoo_acls(op.acl), -1))
        elif op.kind == "set":
            send(SetData(op.path, op.data, -1))
        elif op.kind == "acl":
            send(SetACL(op.path, _kazoo_acls(op.acl), -1))
        elif op.kind == "delete":
            self._delete_subtree_now(op.path, send)
        elif op.kind == "filler":
            reqs: list = []
            for _i in range(op.pairs):
                reqs += [Create(_child(op.path, FILLER_NAME), b"", _kazoo_acls((("world", "anyone", 31),)), 0)]
                reqs += [Delete(_child(op.path, FILLER_NAME), -1)]
            result = send(Transaction(reqs))
            errors = [r for r in result if isinstance(r, Exception)] if isinstance(result, list) else []
            if errors:
                raise errors[-1]

    def _delete_subtree_now(self, root: str, send: Callable[[object], object]) -> None:
        """Delete a target subtree one request at a time, deepest first, on the session the
        writes use (so it sees them); nodes already gone are fine, a child that appears
        meanwhile makes it list the subtree again."""

        def read(paths: list[str]) -> list[Node | None]:
            return self.tgt.read_ordered(paths, self.cfg.io_timeout, set())[0]

        for _attempt in range(5):
            order = self._subtree(root, read)
            try:
                for path in reversed(order):
                    try:
                        send(Delete(path, -1))
                    except kexc.NoNodeError:
                        pass
                return
            except kexc.NotEmptyError:
                continue  # a child was created meanwhile: list again
        raise ZkSyncError(f"target {root}: children kept appearing while it was deleted")

    # -- verify -------------------------------------------------------------------------------

    def verify(self, max_differences: int | None = None) -> dict:
        self.metrics.set_state("verifying")
        started = time.monotonic()
        limit = self.cfg.max_differences if max_differences is None else max_differences
        self.src.sync("/")
        self.tgt.sync("/")
        diffs: list[dict] = []
        total = 0
        nodes = 0
        ahead = 0
        kept = 0
        for pairs in self.walk(readahead=True):
            for pair in pairs:
                nodes += 1
                if pair.src is not None and pair.tgt is not None and pair.tgt.cversion > pair.src.cversion + 1:
                    ahead += 1
                if pair.src is None and pair.tgt is not None and not pair.tgt.ephemeral and not self.cfg.delete_extra:
                    kept += 1
                for kind in self.diff(pair):
                    if kind == "data" and pair.src_path == self.cfg.heartbeat_path:
                        # A running mirror rewrites this timestamp every heartbeat_interval:
                        # its data can differ for an instant; the node itself must exist.
                        continue
                    total += 1
                    if len(diffs) < limit:
                        diffs.append(self._describe(pair, kind))
        return {
            "consistent": total == 0,
            "differences_count": total,
            "differences": diffs,
            "nodes_compared": nodes,
            "cversion_ahead": ahead,
            "extra_kept": kept,
            "seconds": round(time.monotonic() - started, 3),
        }

    @staticmethod
    def _describe(pair: Pair, kind: str) -> dict:
        out: dict = {"path": pair.src_path, "target_path": pair.tgt_path, "kind": kind}
        s, t = pair.src, pair.tgt
        if kind == "data" and s is not None and t is not None:
            out["source_size"] = len(s.data or b"")
            out["target_size"] = len(t.data or b"")
        elif kind == "acl" and s is not None and t is not None:
            out["source_acl"] = [list(a) for a in s.acl]
            out["target_acl"] = [list(a) for a in t.acl]
        elif kind == "cversion" and s is not None and t is not None:
            out["source_cversion"] = s.cversion
            out["target_cversion"] = t.cversion
        return out

    # -- mirror: events -----------------------------------------------------------------------

    def _on_event(self, etype: int, path: str) -> None:
        """Whoever reads the watch session (the main loop, or its keeper): queue the event."""
        self.src.event_seq += 1
        if len(self.events) >= self.cfg.max_backlog:
            self.overflow = True
        else:
            self.events.append((self.src.event_seq, etype, path))

    def start_watches(self) -> None:
        self.src.open_loop(self._on_event)
        self.watching = True
        self.add_watches()

    def watch_lost(self) -> bool:
        """The watch session broke: its watches are gone until :meth:`add_watches`."""
        return self.watching and (self.src.loop is None or self.src.loop.lost.is_set())

    def add_watches(self) -> None:
        """(Re)connect the watch session if it broke, and watch every source path."""
        watch = self.src.loop
        if watch is None:
            raise ZkSyncError("source: no watch session")
        reqs = [(wire.OP_ADD_WATCH, wire.AddWatch(m.source).serialize()) for m in self.cfg.paths]
        try:
            if watch.lost.is_set():
                watch.connect()
            answers = watch.wait(watch.send(reqs), self.cfg.io_timeout)
        except wire.WireAuthError as exc:
            raise ZkSyncError(f"source: {exc}") from exc
        except wire.WireError as exc:
            raise ZkSyncError(f"source: cannot watch ({exc})") from exc
        for m, (err, _body, _seen) in zip(self.cfg.paths, answers, strict=True):
            if err:
                watch.lost.set()  # not watching everything: connect and try again later
                raise ZkSyncError(f"source: watching {m.source} failed with ZooKeeper error {err}")

    def reconnect_lost(self) -> bool:
        """Connect a broken loop session again (the source's then watches again); True when
        both sides are connected. What a broken session may have hidden (missed events,
        writes in flight) is the caller's to re-check: the mirror walks everything."""
        ok = True
        if self.watch_lost():
            try:
                self.add_watches()
                self._readers_behind = True
            except ZkSyncError as exc:  # no server yet: the caller tries again later
                LOG.warning("re-arming the watch failed (%s)", describe_error(exc))
                ok = False
        if self._readers_behind:
            # the walk's read sessions may sit on servers behind the new watch's: what changed
            # in between would be neither seen by the walk nor announced by the watch
            try:
                self.src.sync("/")
                self._readers_behind = False
            except ZkSyncError as exc:
                LOG.warning("syncing the source's read sessions failed (%s)", describe_error(exc))
                ok = False
        return self.tgt.reconnect_loop() and ok

    def _rewatch_if_lost(self) -> None:
        """Outside the mirror loop: broken sessions connect again, and the loop is told to walk
        everything (events may have been missed, writes lost, meanwhile)."""
        if self.watch_lost() or self.tgt.loop_lost():
            self.reconnect_lost()
            self.overflow = True

    def pump(self, timeout: float = 0.0) -> None:
        """Read what arrived on both loop sessions (watch events are queued, write answers
        settled), waiting up to ``timeout`` for the first of it."""
        wire.pump_any([self.src.loop, self.tgt.loop], timeout)

    def apply_events(  # noqa: PLR0912,PLR0915  # the hot path
        self, upto: int | None = None, limit: int = 5000, read: list[str] | None = None
    ) -> int:
        """Apply queued source events (all, or those numbered <= upto) blindly to the target.

        Per path, whether the target has the node before this batch is what the last read of
        the path established when that read already reflected the path's first event here
        (see :meth:`_target_had`), else what the first event says (anything but "created");
        the answer read now tells whether it must have it after. A delete followed by a
        create, or a "deleted" event for a node that is there again, means the node was
        recreated (so it is recreated on the target too). Data changes the last read already
        reflected need no new read. Per parent, every child create/delete event since the
        parent's own (re)creation moved the source's ``cversion`` by one: what the ops do not
        move on the target is made up with filler create/delete pairs in the same multi
        (rounded up, remembered as a credit), on parents that exist on the target after the
        batch. ``read`` (if given) receives the paths read and rewritten.
        """
        first: dict[str, tuple[int, int]] = {}  # path -> (seq, type) of its first event here
        reflected: dict[str, int] = {}  # path -> events its last read reflected
        needed: set[str] = set()
        recreated: set[str] = set()
        child_events: dict[str, int] = collections.defaultdict(int)
        taken = 0
        events = self.events
        while events and taken < limit:
            seq, etype, path = events[0]
            if upto is not None and seq > upto:
                break
            events.popleft()
            taken += 1
            m = self.mapping_for(path)
            if m is None:
                continue
            if etype in (wire.EVENT_CREATED, wire.EVENT_DELETED):
                if path != m.source:
                    child_events[_parent(path)] += 1
                # a new life of the node (or none): its counter starts again, so do its debts
                child_events.pop(path, None)
                self.cv_credit.pop(path, None)
            if self._excluded_or_below(path):
                continue
            if path not in first:
                first[path] = (seq, etype)
                known = self._last_read(path)
                reflected[path] = known[1] if known is not None else 0
            elif etype == wire.EVENT_CREATED:
                recreated.add(path)
            if etype != wire.EVENT_CHANGED or seq > reflected[path]:
                needed.add(path)
        if not needed and not child_events:
            self.metrics.add("events_applied", len(first))
            return taken
        # data changes that the last read of the node already reflected are on the target
        paths = sorted(needed, key=_depth)
        had = {p: self._target_had(p, *first[p]) for p in paths}
        # ACLs are needed where a node may be created: new ones, and deleted ones (recreated?)
        acl_paths = {p for p in paths if first[p][1] != wire.EVENT_CHANGED or p in recreated or not had[p]}
        if read is not None:
            read.extend(paths)
        try:
            nodes, seens = self.src.read_ordered(paths, self.cfg.io_timeout, acl_paths) if paths else ([], [])
        except Exception as exc:  # connection trouble: the paths get repaired later
            LOG.warning("reading changed nodes failed (%s); queued for repair", describe_error(exc))
            self.metrics.add("errors")
            for p in list(paths) + list(child_events):
                self.queue_repair(p)
            return taken
        deletes: list[Op] = []
        writes: list[Op] = []
        child_ops: dict[str, int] = collections.defaultdict(int)
        present: dict[str, bool] = {}
        state: dict[str, tuple[bool, int]] = {}
        for p, answer, seen in zip(paths, nodes, seens, strict=True):
            m = self.mapping_for(p)
            if m is None:
                continue
            tp = m.to_target(p)
            node = answer
            self.check_own_writes(p, answer)
            if answer is not None and answer.ephemeral:
                self.remember_ephemeral(p)
                node = None
            elif answer is None:
                self.ephemerals.discard(p)
            present[p] = node is not None
            state[p] = (node is not None, seen)
            if had[p] and node is None:
                deletes.append(Op("delete", tp))
                child_ops[_parent(p)] += 1
            elif had[p] and node is not None and (p in recreated or first[p][1] == wire.EVENT_DELETED):
                deletes.append(Op("delete", tp))
                writes.append(Op("create", tp, node.data, node.acl))
                child_ops[_parent(p)] += 2
            elif had[p] and node is not None:
                writes.append(Op("set", tp, node.data))
            elif node is not None:
                writes.append(Op("create", tp, node.data, node.acl))
                child_ops[_parent(p)] += 1
        if paths:
            self._remember_reads(state, max(seens))
        deletes.sort(key=lambda o: -_depth(o.path))
        for op in deletes + writes:
            self.writer.add(op)
        for parent, count in child_events.items():
            debt = count - child_ops.get(parent, 0) + self.cv_credit.pop(parent, 0)
            m = self.mapping_for(parent)
            if m is None or not present.get(parent, True) or self._excluded_or_below(parent):
                continue  # not on the target after this batch: no counter to keep
            if debt > 0:
                pairs = (debt + 1) // 2
                self.writer.add(Op("filler", m.to_target(parent), pairs=pairs))
                debt -= 2 * pairs
            if debt:
                self.cv_credit[parent] = debt
        self.writer.flush()
        self.metrics.add("events_applied", len(first))
        return taken

    def _target_had(self, path: str, seq: int, etype: int) -> bool:
        """Whether the target has ``path`` before the ops of the batch whose first event of it
        is ``seq``/``etype``.

        The target holds what the last read of the path found. When that read came after
        this event (the answer reflected it), the event is already applied and says nothing
        about the target: a node created and deleted before the read was never created
        there, one deleted and recreated was recreated. Otherwise every earlier event is
        applied, and the event type tells what was there before it.
        """
        known = self._last_read(path)
        if known is not None and seq <= known[1]:
            return known[0]
        return etype != wire.EVENT_CREATED and path not in self.ephemerals

    def _last_read(self, path: str) -> tuple[bool, int] | None:
        """``(present, seen)`` of the newest remembered read of ``path``."""
        for _max_seen, states in reversed(self._reads):
            known = states.get(path)
            if known is not None:
                return known
        return None

    def _remember_reads(self, states: dict[str, tuple[bool, int]], max_seen: int) -> None:
        """Keep ``{path: (present, seen)}`` of a read until no queued event predates its answers."""
        reads = self._reads
        oldest = self.events[0][0] if self.events else max_seen + 1
        while reads and reads[0][0] < oldest:
            reads.popleft()
        if max_seen >= oldest:
            reads.append((max_seen, states))

    def _note_failure(self, op: Op, message: str) -> None:
        m = next((x for x in self.cfg.paths if _within(op.path, x.target)), None)
        if m is None:
            return
        src_path = m.to_source(op.path)
        count = self.failed_paths.get(src_path, 0) + 1
        self.failed_paths[src_path] = count
        if count <= 5:
            self.queue_repair(src_path, count)
        else:
            LOG.warning("giving up on %s after %d failed repairs: %s", src_path, count - 1, message)

    def remember_ephemeral(self, path: str) -> None:
        if len(self.ephemerals) < self.cfg.max_backlog:
            self.ephemerals.add(path)

    def queue_repair(self, src_path: str, attempt: int = 0) -> None:
        if self.mapping_for(src_path) is None:
            return
        if src_path not in self.repairs and len(self.repairs) < self.cfg.max_backlog:
            self.repairs[src_path] = attempt
        elif src_path not in self.repairs:
            self.overflow = True

    def _mirror_answer(self, ops: list[Op], result: object) -> None:
        """Connection thread: the moment a batch is applied; measures the heartbeat's lag."""
        hb = self._hb_target
        if hb is None or not isinstance(result, list) or any(isinstance(r, Exception) for r in result):
            return
        for op in ops:
            if op.path == hb and op.data:
                try:
                    sent = float(json.loads(op.data.decode())["ts"])
                except (ValueError, KeyError, UnicodeDecodeError):
                    continue
                self.metrics.lag(max(0.0, time.time() - sent))

    def _mirror_fail(self, ops: list[Op], exc: BaseException | None) -> None:
        LOG.info("a write batch failed (%s): re-checking %d node(s)", describe_error(exc), len(ops))
        self.metrics.add("errors")
        if self._repairing:
            # repair writes come from fresh reads of both sides: replay them one by one, so
            # one bad op does not roll back (and requeue) the whole batch again and again
            for op in ops:
                failures: list[str] = []
                self._ensure_op(op, failures)
                if failures:
                    self._note_failure(op, failures[0])
            return
        for op in ops:
            m = next((x for x in self.cfg.paths if _within(op.path, x.target)), None)
            if m is not None:
                src_path = m.to_source(op.path)
                self.queue_repair(src_path)
                if op.kind in ("create", "delete", "filler"):
                    parent = src_path if op.kind == "filler" else _parent(src_path)
                    self.cv_credit.pop(parent, None)
                    self.queue_repair(parent)

    # -- mirror: repairs ------------------------------------------------------------------------

    def repair_batch(self, limit: int = 100, count: bool = True) -> int:
        """Re-check queued paths on both sides and fix what differs. Returns fixes made."""
        items: list[tuple[str, int]] = []
        while self.repairs and len(items) < limit:
            items.append(self.repairs.popitem(last=False))
        if not items:
            return 0
        paths = [p for p, _a in items]
        attempts = dict(items)
        newer: list[str] = []
        try:
            src_nodes, seens = self.src.read_ordered(paths, self.cfg.io_timeout)
            # every change those answers reflect was announced before them: apply it first
            self.apply_events(upto=max(seens), limit=10**9, read=newer)
            self.writer.drain()
            tpaths = [self.mapping_for(p).to_target(p) for p in paths]  # type: ignore[union-attr]
            tgt_nodes, _x = self.tgt.read_ordered(tpaths, self.cfg.io_timeout)
        except Exception as exc:  # keep the paths, retry after a pause
            return self._repair_reads_failed(exc, items)
        fixes = 0
        work = []
        rewritten = set(newer)
        for p, tp, node, t in zip(paths, tpaths, src_nodes, tgt_nodes, strict=True):
            if p in rewritten:
                # the events just applied wrote it from a newer read than ours: check it again
                self.queue_repair(p, attempts[p])
                continue
            self.check_own_writes(p, node)
            s = None if node is None or node.ephemeral else node
            if node is not None and node.ephemeral:
                self.remember_ephemeral(p)  # its "deleted" event will need no op
            if s is not None:
                _check_redacted(s, "source")
            work.append((p, tp, s, t))
        # deletions deepest first, then creations and updates parents first
        work.sort(key=lambda w: (0, -_depth(w[0])) if w[2] is None else (1, _depth(w[0])))
        self._repairing = True
        try:
            for p, tp, s, t in work:
                got = self._repair_one(p, tp, s, t, attempts[p])
                if got and LOG.isEnabledFor(logging.DEBUG):
                    LOG.debug("repair %s: %s (attempt %d)", p, self.diff(Pair(p, tp, s, t)), attempts[p])
                fixes += got
            self.writer.drain()
        finally:
            self._repairing = False
        if count and fixes:
            self.metrics.add("repairs", fixes)
        return fixes

    def _repair_reads_failed(self, exc: Exception, items: list[tuple[str, int]]) -> int:
        """Queue a failed repair batch again (-1: back off); a feedback loop is not retried."""
        if isinstance(exc, ZkSyncLoop):
            raise exc
        LOG.warning("repair reads failed (%s); will retry", describe_error(exc))
        self.metrics.add("errors")
        for p, a in items:
            self.queue_repair(p, a)
        return -1

    def _repair_one(  # noqa: PLR0911,PLR0912  # one decision table
        self, p: str, tp: str, s: Node | None, t: Node | None, attempt: int
    ) -> int:
        w = self.writer
        if s is None:
            if t is not None and not t.ephemeral and self.cfg.delete_extra:
                self._delete_tree(w, tp)
                return 1
            return 0
        if t is not None and t.ephemeral:
            return 0
        if t is None:
            w.add(Op("create", tp, s.data, s.acl))
            for name in s.children or ():
                if not self.excluded(_child(p, name)):
                    self.queue_repair(_child(p, name))
            if s.children or s.cversion:
                self.queue_repair(p, attempt + 1)  # its counter, once the children are there
            return 1
        fixes = 0
        if s.data != t.data:
            w.add(Op("set", tp, s.data))
            fixes = 1
        if s.acl != t.acl:
            w.add(Op("acl", tp, acl=s.acl))
            fixes = 1
        if t.cversion >= s.cversion:
            return fixes
        # the child counter can only be judged once both child sets agree
        s_kids = {n for n in s.children or () if not self.excluded(_child(p, n))}
        t_kids = {n for n in t.children or () if n != FILLER_NAME and not self.excluded(_child(p, n))}
        settled = True
        if self.cfg.delete_extra:  # otherwise the target's own children stay, and may stay
            for name in sorted(t_kids - s_kids):
                self.queue_repair(_child(p, name))  # deletes it, unless it is an ephemeral
                settled = False
        missing = sorted(s_kids - t_kids)
        if missing:
            kids, _seen = self.src.read_ordered([_child(p, n) for n in missing], self.cfg.io_timeout, set())
            for k in kids:
                if k is not None and not k.ephemeral:
                    self.queue_repair(k.path)
                    settled = False
        prefix = p.rstrip("/") + "/"
        if settled and any(r.startswith(prefix) and "/" not in r[len(prefix) :] for r in self.repairs):
            settled = False
        if not settled:
            if attempt < 5:
                self.queue_repair(p, attempt + 1)
            return fixes
        w.add(Op("filler", tp, pairs=(s.cversion - t.cversion + 1) // 2))
        return 1

    # -- mirror: the loop ---------------------------------------------------------------------

    def mirror(
        self,
        duration: float | None = None,
        stop_marker: str | None = None,
        copy_first: bool = True,
        drain_timeout: float = 60.0,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict:
        """Copy (optional), then mirror until ``duration`` passes or ``stop_marker`` appears."""
        hb_map = self.mapping_for(self.cfg.heartbeat_path or "")
        self._hb_target = hb_map.to_target(self.cfg.heartbeat_path) if hb_map and self.cfg.heartbeat_path else None
        self.start_watches()  # before the copy: nothing changed meanwhile goes unnoticed
        # ... and the copy's read sessions (other servers, maybe behind the watch's) catch up
        # first: a change between a lagging server's state and the watch would be missed
        self.src.sync("/")
        copy_result = self.copy() if copy_first else None
        # from now on the target's writes and the repairs' reads go through the loop's own
        # session (the copy's writes are all answered: none is in flight on the kazoo one)
        self.tgt.open_loop()
        self.tgt.wait_connected(self.cfg.io_timeout)
        if self.tgt.loop_lost():
            raise ZkSyncUnavailable("target: cannot open a session on any server for the mirror's writes")
        backlog = self._catch_up()
        self.metrics.set_state("mirroring")
        if self.cfg.heartbeat_path:
            self._ensure_heartbeat()
        loop = _MirrorLoop(self, duration, stop_marker, should_stop)
        loop.run()
        self.metrics.set_state("draining")
        if loop.stop_reason == "stop_marker":
            self._remove_heartbeat()
        final_fixes, result = self._finish(drain_timeout)
        self.metrics.set_state("stopped")
        return {
            "copy": copy_result,
            "mirror_seconds": round(loop.seconds, 3),
            "stop_reason": loop.stop_reason,
            "events_applied": self.metrics.events_applied,
            "repairs": self.metrics.repairs,
            "errors": self.metrics.errors,
            "reconciliations": loop.reconciliations,
            "resyncs": loop.resyncs,
            "backlog_after_copy": backlog,
            "final_repairs": final_fixes,
            "lag": self.metrics.lag_summary(),
            "verify": result,
        }

    def _catch_up(self) -> int:
        """Re-check (both sides, not counted as repairs) what changed during the copy."""
        backlog = 0
        while self.events:
            _seq, _etype, path = self.events.popleft()
            backlog += 1
            if self.mapping_for(path) is not None and not self.excluded(path):
                self.queue_repair(path)
                self.queue_repair(_parent(path))
        for _round in range(10_000):
            if not self.repairs:
                break
            if self.repair_batch(500, count=False) < 0:
                time.sleep(0.2)  # connection trouble: back off
                self._rewatch_if_lost()
        return backlog

    def _repair_until(self, deadline: float, size: int = 200) -> int:
        fixes = 0
        while self.repairs and time.monotonic() < deadline:
            got = self.repair_batch(size)
            if got < 0:
                time.sleep(0.1)  # connection trouble: back off
                self._rewatch_if_lost()
            else:
                fixes += got
        self.writer.drain()
        return fixes

    def _finish(self, drain_timeout: float) -> tuple[int, dict]:
        """Apply everything announced, reconcile once fully, then verify (re-checking diffs)."""
        deadline = time.monotonic() + drain_timeout
        self._rewatch_if_lost()  # the final walk below covers what it missed
        while time.monotonic() < deadline and (self.events or self.repairs or self.writer.inflight):
            self.pump()
            if self.events:
                self.apply_events()
            self.writer.drain()
            self._repair_until(deadline)
        for pairs in self.walk():
            for pair in pairs:
                if self.diff(pair):
                    self.queue_repair(pair.src_path)
        fixes = self._repair_until(deadline)
        result = self.verify()
        for _round in range(3):
            if result["consistent"] or time.monotonic() >= deadline:
                break
            for d in result["differences"]:
                self.queue_repair(d["path"])
            fixes += self._repair_until(deadline)
            result = self.verify()
        return fixes, result

    def heartbeat_payload(self) -> bytes:
        return json.dumps({"ts": time.time(), "run": self.run_id}).encode()

    def _ensure_heartbeat(self) -> None:
        c = self.src.client
        path = self.cfg.heartbeat_path
        if path is None:
            return
        payload = self.heartbeat_payload()
        try:
            c.create(path, payload, makepath=False)  # type: ignore[attr-defined]
            version = 0
        except kexc.NodeExistsError:
            version = c.set(path, payload).version  # type: ignore[attr-defined]
        except kexc.NoNodeError as exc:
            raise ZkSyncError(f"heartbeat_path: the parent of {path} does not exist on the source") from exc
        self._hb_version, self._hb_sets = version, 0

    def set_heartbeat(self) -> None:
        """Rewrite the source's heartbeat (not waiting for the answer); counted for
        :meth:`check_own_writes`."""
        self._hb_sets += 1
        self.src.client.set_async(self.cfg.heartbeat_path, self.heartbeat_payload())  # type: ignore[attr-defined]

    def check_own_writes(self, path: str, node: Node | None) -> None:
        """Stop when a node read on the source shows this mirror's own target writes.

        Two signs, both certain: a source node other than the heartbeat holding this run's tag
        (only the heartbeat has it on the source, the mirror copies it to the target), or the
        heartbeat at a version above the sets this run made (the mirror rewrites it in place).
        Either means the target is the source ensemble and the mirror feeds itself.
        """
        if node is None or node.data is None:
            return
        hb = self.cfg.heartbeat_path
        if path == hb:
            if self._hb_version is not None and node.stat[S_VERSION] > self._hb_version + self._hb_sets:
                raise ZkSyncLoop(
                    f"the mirror's own writes arrive on its source: the heartbeat {hb} is at version "
                    f"{node.stat[S_VERSION]}, but this mirror set it only {self._hb_sets} time(s) since version "
                    f"{self._hb_version}: the target writes land on the source (one ensemble) or another process "
                    "writes the heartbeat. Stopped; point target.hosts at another ensemble, or use target paths "
                    "outside every source path"
                )
        elif len(node.data) < 256 and self._run_tag in node.data:
            raise ZkSyncLoop(
                f"the mirror's own writes arrive on its source: {path} holds this mirror's heartbeat (run "
                f"{self.run_id}), which it only writes to the target: source and target are one ensemble and "
                "the target paths lie inside the source paths. Stopped before the tree grows further; point "
                "target.hosts at another ensemble, or use target paths outside every source path"
            )

    def _remove_heartbeat(self) -> None:
        """The migration is over: both trees are left without the engine's node (the drain
        carries its deletion over), so that a later sync into the target, in use by now, is
        refused as non-empty instead of taken for a resumed one."""
        path = self.cfg.heartbeat_path
        if path is None:
            return
        with contextlib.suppress(kexc.NoNodeError):
            self.src.client.delete(path)  # type: ignore[attr-defined]
        # its event comes on the watch's own session: wait for it, so the drain applies it
        deadline = time.monotonic() + self.cfg.io_timeout
        while time.monotonic() < deadline and not self.watch_lost():
            if any(p == path and t == wire.EVENT_DELETED for _seq, t, p in self.events):
                return
            self.pump(0.05)
        LOG.warning("the heartbeat's deletion was not seen; the final reconciliation carries it over")


class _MirrorLoop:
    """The mirror's main loop: events first, then repairs, then reconciliation steps."""

    def __init__(
        self,
        engine: SyncEngine,
        duration: float | None,
        stop_marker: str | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.e = engine
        self.started = time.monotonic()
        self.deadline = self.started + duration if duration else None
        self.stop_marker = stop_marker
        self.should_stop = should_stop
        self.stop_reason = "duration"
        self.seconds = 0.0
        self.next_hb = self.started
        interval = engine.cfg.reconcile_interval
        self.next_reconcile = self.started + interval if interval else None
        self.next_marker = self.started
        self.marker_reply: wire.Reply | None = None
        self.walker: Iterator[list[Pair]] | None = None
        self.reconciliations = 0
        self.resyncs = 0

    def run(self) -> None:
        e = self.e
        while not self._should_end():
            self._check_sessions()
            e.pump()
            now = time.monotonic()
            if e.watch_lost() or e.tgt.loop_lost() or e.tgt_reconnected.is_set() or e.overflow:
                self._rearm()
            busy = False
            if e.events:
                e.apply_events()
                busy = True
            e.writer.poll()
            if not e.events and e.repairs:
                if e.repair_batch(100) < 0:
                    time.sleep(0.1)  # connection trouble: back off
                busy = True
            elif not e.events and self.walker is not None:
                self._walk_step()
                busy = True
            if e.cfg.heartbeat_path and now >= self.next_hb:
                e.set_heartbeat()
                self.next_hb = now + e.cfg.heartbeat_interval
            if self.next_reconcile is not None and now >= self.next_reconcile and self.walker is None:
                self.walker = e.walk(batch_size=200)
                self.reconciliations += 1
                self.next_reconcile = now + e.cfg.reconcile_interval
            if not busy and not e.events:
                wait = 0.05
                if e.cfg.heartbeat_path:
                    wait = min(wait, max(0.0, self.next_hb - time.monotonic()))
                e.pump(wait)
        self.seconds = time.monotonic() - self.started

    def _check_sessions(self) -> None:
        for s in (self.e.src, self.e.tgt):
            if s.client is None or s.client.client_state == "CLOSED":
                raise ZkSyncError(f"{s.name}: the ZooKeeper session was closed for good (authentication failed?)")

    def _should_end(self) -> bool:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            return True
        if self.should_stop is not None and self.should_stop():
            self.stop_reason = "requested"
            return True
        if not self.stop_marker or now < self.next_marker:
            return False
        self.next_marker = now + 0.25
        reply = self.marker_reply
        if reply is not None and reply.ready():
            self.marker_reply = None
            if reply.exc is None and reply.value is not None:
                self.stop_reason = "stop_marker"
                return True
        if self.marker_reply is None:
            self.marker_reply = wire.call(self.e.src.client, Exists(self.stop_marker, None), self.e.src.counter)
        return False

    def _rearm(self) -> None:
        """After a reconnect (or a lost backlog): watch again, then walk everything."""
        e = self.e
        e.metrics.set_state("resyncing")
        for side, lost in ((e.src, e.watch_lost()), (e.tgt, e.tgt.loop_lost())):
            if lost:
                LOG.warning("%s: the mirror's session broke; reconnecting, then walking both trees", side.name)
        if not e.reconnect_lost():  # no server yet: try again on the next turn (lost stays set)
            e.metrics.add("errors")
            time.sleep(0.1)
            return
        e.tgt_reconnected.clear()
        e.overflow = False
        self.walker = e.walk(batch_size=200)
        self.resyncs += 1

    def _walk_step(self) -> None:
        e = self.e
        if self.walker is None:
            return
        try:
            pairs = next(self.walker)
        except StopIteration:
            self.walker = None
            e.metrics.set_state("mirroring")
            return
        except ZkSyncError as exc:
            LOG.warning("reconciliation walk failed (%s); starting it again", describe_error(exc))
            e.metrics.add("errors")
            self.walker = None
            e.overflow = True
            time.sleep(0.1)  # connection trouble: back off
            return
        for pair in pairs:
            if e.diff(pair):
                e.queue_repair(pair.src_path)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def describe_bytes(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def run(
    mode: str,
    source: dict,
    target: dict,
    opts: dict,
    *,
    check_mode: bool = False,
    metrics_port: int | None = None,
    metrics_address: str = "127.0.0.1",
) -> dict:
    """What the module (and the service) does for one mode; raises ZkSyncError on bad input."""
    cfg = build_config(opts)
    metrics = Metrics()
    if metrics_port:
        metrics.serve(metrics_port, metrics_address)
    engine = SyncEngine(cfg, source, target, metrics)
    try:
        engine.open()
        if mode == "verify":
            res = engine.verify()
            return {"changed": False, "verify": res, "consistent": res["consistent"]}
        pre = engine.preflight()  # in check mode too: a dry run must not promise what a run refuses
        if mode == "copy":
            res = engine.copy(dry_run=check_mode)
            return {"changed": res["changed"], "copy": res, "resumed": pre["resumed"]}
        if mode == "mirror":
            duration = opts.get("duration")
            stop_marker = opts.get("stop_marker")
            if stop_marker:
                stop_marker = _check_path(stop_marker, "stop_marker")
            if duration is not None:
                duration = _require_float(duration, "duration", 0.0, 86400.0 * 365)
            if not duration and not stop_marker:
                raise ZkSyncError("duration or stop_marker: mode=mirror needs at least one way to end")
            res = engine.mirror(duration=duration, stop_marker=stop_marker, drain_timeout=cfg.drain_timeout)
            changed = bool(res["events_applied"] or res["repairs"] or (res["copy"] or {}).get("changed"))
            return {"changed": changed, "mirror": res, "consistent": res["verify"]["consistent"]}
        raise ZkSyncError(f"mode: {mode!r} is not one of copy, verify, mirror")
    finally:
        engine.close()
        metrics.close()


def service_connection(conf: dict, side: str) -> dict:
    """One side's connection settings of the service's config, with the module's defaults."""
    given = conf.get(side)
    if not isinstance(given, dict) or not given.get("hosts"):
        raise ZkSyncError(f"{side}.hosts: the config file must name the {side} ensemble's servers")
    if given.get("auth_username") and given.get("auth_scheme", "digest") != "digest":
        raise ZkSyncError(f"{side}.auth_scheme: only digest is supported by zk_sync")
    defaults = {k: v.get("default") for k, v in _zk.zookeeper_argument_spec().items()}
    return {**defaults, **given}


def service_main(argv: list[str] | None = None) -> int:
    """``zk-sync-mirror CONFIG.json``: the role's service (mirror until stopped)."""
    parser = argparse.ArgumentParser(prog="zk-sync-mirror", description="Mirror ZooKeeper subtrees (zk_sync engine)")
    parser.add_argument("config", help="JSON file: {source: {...}, target: {...}, options: {...}, metrics_port}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with open(args.config, encoding="utf-8") as f:
        conf = json.load(f)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    metrics = Metrics()
    engine: SyncEngine | None = None
    try:
        # Bad settings end with one line naming the field and exit 2, as the module's errors do;
        # the unit does not restart on 2 (RestartPreventExitStatus): the same settings would
        # fail the same way. An ensemble that does not answer yet exits 1 and is retried.
        cfg = build_config(conf.get("options") or {})
        sides = {side: service_connection(conf, side) for side in ("source", "target")}
        if conf.get("metrics_port"):
            metrics.serve(int(conf["metrics_port"]), conf.get("metrics_address") or "0.0.0.0")  # noqa: S104
        engine = SyncEngine(cfg, sides["source"], sides["target"], metrics)
        engine.open()
        engine.preflight()
        res = engine.mirror(
            duration=None,
            stop_marker=(conf.get("options") or {}).get("stop_marker"),
            drain_timeout=cfg.drain_timeout,
            should_stop=stop.is_set,
        )
        LOG.info("stopped: %s", json.dumps({k: v for k, v in res.items() if k != "verify"}, default=str))
        LOG.info(
            "verify: consistent=%s differences=%s", res["verify"]["consistent"], res["verify"]["differences_count"]
        )
        return 0 if res["verify"]["consistent"] else 3
    except ZkSyncUnavailable as exc:
        LOG.error("%s (the unit retries)", exc)
        return 1
    except ZkSyncLoop as exc:  # the same settings would loop again: not restarted either
        LOG.error("%s", exc)
        return 4
    except ZkSyncError as exc:
        LOG.error("%s", exc)
        return 2
    except OSError as exc:  # the metrics port in use, for one
        LOG.error("metrics_port: %s", exc)
        return 2
    finally:
        if engine is not None:
            engine.close()
        metrics.close()
