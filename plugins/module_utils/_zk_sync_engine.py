# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's copy and verify (private): :class:`SyncEngine`.

Reads for copy and verify go through the pipelined read sessions (one ``multiRead`` of
``getData``+``getChildren`` plus one ``getACL`` per node, thousands per round trip), both trees
walked at once in pre-order with the next batch read ahead; writes go through the target's
kazoo session as ``multi`` batches below the 1 MB request limit, several in flight, parents
before children (:class:`Writer`). Memory is bounded by settings: read batches shrink to stay
under ``max_batch_bytes``, at most ``write_window`` multis are in flight. docs/zk_sync.md has
the design.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import (
    PathMap,
    SyncConfig,
    check_ensembles,
    overlapping_paths,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    CONNECTION_ERRORS,
    LOG,
    ZkSyncError,
    ZkSyncUnavailable,
    describe_error,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import Metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import (
    S_NUMCHILDREN,
    Node,
    check_redacted,
    child_path,
    parent_path,
    path_depth,
    subtree_paths,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_sessions import EnsembleSessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_writes import (
    FILLER_NAME,
    WORLD_ALL,
    CountingWriter,
    Op,
    Writer,
    kazoo_acls,
)

try:
    from kazoo import exceptions as kexc
    from kazoo.protocol.serialization import Create, Delete, SetACL, SetData, Transaction
    from kazoo.protocol.states import KazooState
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass


@dataclass
class Pair:
    """A source path, its target path and the node each side holds there (None: absent)."""

    src_path: str
    tgt_path: str
    src: Node | None
    tgt: Node | None


class SyncEngine:
    """One sync between two ensembles: connects, checks, copies and verifies.

    :meth:`open` connects both sides (:class:`EnsembleSessions`) and refuses source and target
    paths that overlap on one ensemble (:meth:`check_identity`); :meth:`preflight` refuses what
    a copy must not write into; :meth:`copy` makes the target subtrees equal to the source's in
    one pipelined walk of both trees (:meth:`walk`), undoing a failed copy into empty targets;
    :meth:`verify` compares them. The mirror (``_zk_sync_mirror.Mirror``) runs on an open
    engine and uses its walk, diff and repairs of single ops.
    """

    def __init__(self, cfg: SyncConfig, source: dict, target: dict, metrics: Metrics | None = None) -> None:
        self.cfg = cfg
        check_ensembles(source["hosts"], target["hosts"])
        self.src = EnsembleSessions("source", source, cfg.read_sessions)
        self.tgt = EnsembleSessions("target", target, cfg.read_sessions)
        self.metrics = metrics or Metrics()
        # set when the target's kazoo session comes back: writes in flight may be lost
        self.tgt_reconnected = threading.Event()
        # the exclude globs as one regex (fnmatchcase per pattern costs more than a batch's I/O)
        self._excludes_re = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in cfg.excludes) or "(?!)")
        self._excluded_memo: dict[str, bool] = {}
        # the walk's reads of each side run beside each other (and beside the caller's work)
        self._src_reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zk-sync-source-walk")
        self._tgt_reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zk-sync-target-walk")
        # what preflight found at each target path, when every one was empty (else None); and
        # the missing parents of target paths the copy created: a failed copy removes both
        self._target_before: dict[str, Node | None] | None = None
        self._created_parents: list[str] = []
        self.ephemerals: set[str] = set()  # source ephemerals seen: their deletes need no op

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
        (:func:`wire_sessions.same_ensemble`), which takes it over only when its ensemble created it.
        Decisive both ways for ZooKeeper's (default) global sessions, it writes nothing, and
        costs two handshakes. With ``localSessionsEnabled`` a session is known to its server
        only, so "unknown" is cross-checked: a source root that the target also holds, created
        by the same transaction (``czxid`` and ``ctime``), means one history, and is refused as
        undecidable. Only asked when some source and target path overlap as paths.
        """
        overlaps = overlapping_paths(self.cfg)
        if not overlaps:
            return
        timeout = max(self.src.session_timeout(), self.tgt.session_timeout())
        same, why = wire_sessions.same_ensemble(
            self.src.servers, self.tgt.servers, timeout, self.src.ssl_context, self.tgt.ssl_context
        )
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

    def excluded_or_below(self, path: str) -> bool:
        """``path`` or one of its ancestors (not ``/``) is excluded; remembered per path."""
        hit = self._excluded_memo.get(path)
        if hit is None:
            hit = self.excluded(path) or (path_depth(path) > 1 and self.excluded_or_below(parent_path(path)))
            if len(self._excluded_memo) >= 100_000:
                self._excluded_memo.clear()
            self._excluded_memo[path] = hit
        return hit

    def mapping_for(self, src_path: str) -> PathMap | None:
        for m in self.cfg.paths:
            if m.covers(src_path):
                return m
        return None

    def remember_ephemeral(self, path: str) -> None:
        """A source ephemeral seen by a walk or a read: never copied, so its deletion needs no op."""
        if len(self.ephemerals) < self.cfg.max_backlog:
            self.ephemerals.add(path)

    def preflight(self) -> dict:
        """Roots exist on the source; the target is empty (or allowed, or our own, or already
        equal to the source: a copy would change nothing, so a rerun is not refused)."""
        roots = self.src.fetch([m.source for m in self.cfg.paths])
        for i, (m, node) in enumerate(zip(self.cfg.paths, roots, strict=True)):
            if node is None:
                raise ZkSyncError(f"paths[{i}]: source {m.source} does not exist on the source ensemble")
            check_redacted(node, "source")
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
                check_redacted(s, "source")
                nbytes += len(s.data or b"")
                if s.ephemeral:
                    self.remember_ephemeral(sp)
                    s = None
            if t is not None:
                check_redacted(t, "target")
                nbytes += len(t.data or b"")
            pairs.append(Pair(sp, tp, s, t))
            if s is None or (t is not None and t.ephemeral):
                continue
            s_kids = set(s.children or ())
            t_kids = set(t.children or ()) if t is not None else set()
            for name in sorted(s_kids | t_kids, reverse=True):
                csp = child_path(sp, name)
                if self.excluded(csp):
                    continue
                stack.append((csp, child_path(tp, name), name in s_kids, name in t_kids))
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
        failed pass is undone, so a refused copy leaves the target as it was. A ``dry_run``
        (check mode) makes the same pass with a :class:`CountingWriter`: it reports the same
        counts and writes nothing.
        """
        if dry_run:
            return self._copy_pass(CountingWriter(), [])
        failures: list[str] = []

        def on_fail(ops: list[Op], exc: BaseException | None) -> None:
            self.metrics.add("errors")
            if isinstance(exc, CONNECTION_ERRORS) and self._resend(ops):
                return
            for op in ops:
                self.ensure_op(op, failures)

        writer = Writer(self.tgt, self.cfg, on_fail=on_fail)
        try:
            return self._copy_pass(writer, failures)
        except Exception as exc:
            if self._target_before is None:
                raise
            outcome = self._undo_copy(writer)
            if isinstance(exc, ZkSyncError):
                raise ZkSyncError(f"{exc}; {outcome}") from exc
            LOG.error("copy failed (%s); %s", describe_error(exc), outcome)
            raise

    def _copy_pass(  # noqa: PLR0912,PLR0915  # one walk, every case inline
        self, writer: Writer | CountingWriter, failures: list[str]
    ) -> dict:
        self.metrics.set_state("copying")
        started = time.monotonic()
        stats: collections.Counter[str] = collections.Counter()
        # parent target path -> [source cversion, target cversion before, child ops]
        dirs: dict[str, list[int]] = {}
        warnings: list[str] = []
        self._ensure_target_parents(writer)
        for pairs in self.walk(readahead=True):
            for pair in pairs:
                stats["nodes_compared"] += 1
                s, t = pair.src, pair.tgt
                parent = parent_path(pair.tgt_path)
                if s is None:
                    if t is not None and not t.ephemeral and self.cfg.delete_extra:
                        stats["deleted"] += 1
                        if parent in dirs:
                            dirs[parent][2] += 1
                        writer.delete_tree(pair.tgt_path)
                    continue
                stats["nodes"] += 1
                if t is None:
                    stats["created"] += 1
                    if parent in dirs:
                        dirs[parent][2] += 1
                    writer.add(Op("create", pair.tgt_path, s.data, s.acl))
                elif t.ephemeral:
                    warnings.append(
                        f"{pair.tgt_path}: an ephemeral node on the target holds the place of a source node"
                    )
                    continue
                else:
                    if s.data != t.data:
                        stats["data_updated"] += 1
                        writer.add(Op("set", pair.tgt_path, s.data))
                    if s.acl != t.acl:
                        stats["acl_updated"] += 1
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
                pairs_needed = (need + 1) // 2
                while pairs_needed > 0:
                    chunk = min(pairs_needed, self.cfg.max_multi_ops // 2)
                    writer.add(Op("filler", tpath, pairs=chunk))
                    pairs_needed -= chunk
            elif need < -1 and len(warnings) < 100:
                warnings.append(f"{tpath}: target cversion {expected} is ahead of the source's {s_cv}")
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

    def _ensure_target_parents(self, writer: Writer | CountingWriter) -> None:
        for m in self.cfg.paths:
            missing = []
            for p in _zk.parent_paths(m.target):
                if self.tgt.client.exists(p) is None:  # type: ignore[attr-defined]
                    missing.append(p)
            for p in missing:
                writer.add(Op("create", p, b"", WORLD_ALL))
            if isinstance(writer, Writer):  # what a failed copy removes again
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
                    self._delete_subtree_now(child_path(m.target, child), send)
                send(SetData(m.target, node.data, -1))
                send(SetACL(m.target, kazoo_acls(node.acl), -1))
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

    def ensure_op(self, op: Op, failures: list[str]) -> None:
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
                send(Create(op.path, op.data, kazoo_acls(op.acl), 0))
            except kexc.NodeExistsError:
                send(SetData(op.path, op.data, -1))
                send(SetACL(op.path, kazoo_acls(op.acl), -1))
        elif op.kind == "set":
            send(SetData(op.path, op.data, -1))
        elif op.kind == "acl":
            send(SetACL(op.path, kazoo_acls(op.acl), -1))
        elif op.kind == "delete":
            self._delete_subtree_now(op.path, send)
        elif op.kind == "filler":
            reqs: list = []
            for _i in range(op.pairs):
                reqs += [Create(child_path(op.path, FILLER_NAME), b"", kazoo_acls(WORLD_ALL), 0)]
                reqs += [Delete(child_path(op.path, FILLER_NAME), -1)]
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
            order = subtree_paths(root, read)
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
