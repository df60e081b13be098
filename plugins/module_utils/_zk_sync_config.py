# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's configuration (private): options, their defaults, their validation.

:func:`build_config` turns the user's options (the module's parameters, the service's JSON)
into a :class:`SyncConfig`, every message starting with the option's name. The defaults of
:class:`SyncConfig` are the only ones in the code: the module's argument_spec reads them
through :func:`option_default`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import within

DEFAULT_EXCLUDES = (
    "/zookeeper",
    "/zookeeper/*",
    "*/json.info_*",  # Mesos masters' leader election (ephemeral sequential)
    "*/leader-curator/*",  # Marathon's leader latch nodes (ephemeral sequential)
)
# Below ZooKeeper's 1 MB jute.maxbuffer, leaving room for headers.
DEFAULT_MAX_MULTI_BYTES = 900_000
# Seconds to connect and wait for each answer (also the session timeout asked for) when the
# connection settings name none: the service's (the role's _zk_sync_connection_defaults). A
# mirror that runs for days should not lose its session to one slow GC pause.
SERVICE_TIMEOUT = 10.0


@dataclass
class PathMap:
    """One synced subtree: its root on the source and where it goes on the target."""

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
        return within(path, self.source)


@dataclass
class SyncConfig:
    """The engine's validated settings (:func:`build_config`).

    Its field defaults are the one place each option's default is written: the module's
    argument_spec reads them (:func:`option_default`); the module's DOCUMENTATION, the role's
    defaults and argument_specs and the playbook repeat them, since YAML cannot import them,
    and tests/unit/plugins/module_utils/test_zk_sync_config.py holds them to these.
    """

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


def require_int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ZkSyncError(f"{name}: must be an integer from {low} to {high}, got {value!r}")
    return value


def require_float(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise ZkSyncError(f"{name}: must be a number from {low} to {high}, got {value!r}")
    return float(value)


def check_path(value: object, name: str) -> str:
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
            src = tgt = check_path(item, f"paths[{i}]")
        elif isinstance(item, dict):
            unknown = set(item) - {"source", "target"}
            if unknown:
                raise ZkSyncError(f"paths[{i}]: unknown key(s) {sorted(unknown)} (allowed: source, target)")
            src = check_path(item.get("source"), f"paths[{i}].source")
            tgt = check_path(item.get("target") or src, f"paths[{i}].target")
        else:
            raise ZkSyncError(f"paths[{i}]: expected a path string or a dict with source and target, got {item!r}")
        if _zk.is_protected(src) and src != "/":
            raise ZkSyncError(f"paths[{i}]: {src} belongs to ZooKeeper itself and cannot be synced")
        if _zk.is_protected(tgt) and tgt != "/":
            raise ZkSyncError(f"paths[{i}].target: {tgt} belongs to ZooKeeper itself and cannot be written")
        paths.append(PathMap(src, tgt))
    for i, a in enumerate(paths):
        for j, b in enumerate(paths):
            if i < j and (within(a.source, b.source) or within(b.source, a.source)):
                raise ZkSyncError(f"paths[{j}]: source {b.source} overlaps paths[{i}] source {a.source}")
            if i < j and (within(a.target, b.target) or within(b.target, a.target)):
                raise ZkSyncError(f"paths[{j}]: target {b.target} overlaps paths[{i}] target {a.target}")
    excludes = opts.get("excludes")
    if excludes is None:
        excludes = list(DEFAULT_EXCLUDES)
    if not isinstance(excludes, list) or not all(isinstance(e, str) and e for e in excludes):
        raise ZkSyncError("excludes: must be a list of non-empty glob patterns on absolute paths")
    cfg = SyncConfig(paths=paths, excludes=list(excludes))
    cfg.delete_extra = bool(opts.get("delete_extra", cfg.delete_extra))
    cfg.allow_non_empty_target = bool(opts.get("allow_non_empty_target", cfg.allow_non_empty_target))
    if opts.get("batch_size") is not None:
        cfg.batch_size = require_int(opts["batch_size"], "batch_size", 1, 20000)
    if opts.get("max_batch_bytes") is not None:
        cfg.max_batch_bytes = require_int(opts["max_batch_bytes"], "max_batch_bytes", 1 << 20, 1 << 34)
    if opts.get("max_multi_bytes") is not None:
        cfg.max_multi_bytes = require_int(opts["max_multi_bytes"], "max_multi_bytes", 4096, 1048000)
    if opts.get("write_window") is not None:
        cfg.write_window = require_int(opts["write_window"], "write_window", 1, 64)
    if opts.get("read_sessions") is not None:
        cfg.read_sessions = require_int(opts["read_sessions"], "read_sessions", 1, 16)
    if opts.get("max_backlog") is not None:
        cfg.max_backlog = require_int(opts["max_backlog"], "max_backlog", 1000, 10_000_000)
    if opts.get("reconcile_interval") is not None:
        cfg.reconcile_interval = require_float(opts["reconcile_interval"], "reconcile_interval", 0.0, 86400.0 * 30)
    if opts.get("drain_timeout") is not None:
        cfg.drain_timeout = require_float(opts["drain_timeout"], "drain_timeout", 1.0, 86400.0)
    if opts.get("heartbeat_interval") is not None:
        cfg.heartbeat_interval = require_float(opts["heartbeat_interval"], "heartbeat_interval", 0.05, 3600.0)
    if opts.get("max_differences") is not None:
        cfg.max_differences = require_int(opts["max_differences"], "max_differences", 0, 10_000_000)
    hb = opts.get("heartbeat_path")
    if hb:
        hb = check_path(hb, "heartbeat_path")
        if not any(p.covers(hb) for p in paths):
            raise ZkSyncError(f"heartbeat_path: {hb} must lie inside one of the synced source paths")
        cfg.heartbeat_path = hb
    else:
        root = paths[0].source
        cfg.heartbeat_path = (root.rstrip("/") or "") + "/zk_sync_heartbeat"
    return cfg


def check_ensembles(src_hosts: str, tgt_hosts: str) -> None:
    """Refuse chroots and connect strings that do not parse. Whether source and target are one
    ensemble is asked of the servers once connected (:meth:`SyncEngine.check_identity`)."""
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
        if within(p.source, q.target) or within(q.target, p.source)
    ]


def option_default(name: str) -> object:
    """The default of the option ``name``: the :class:`SyncConfig` field's."""
    for f in dataclasses.fields(SyncConfig):
        if f.name == name:
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            if f.default is dataclasses.MISSING:
                raise KeyError(name)
            return f.default
    raise KeyError(name)
