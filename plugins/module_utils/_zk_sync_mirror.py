# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync mirror (private): :class:`Mirror`, run on an open :class:`SyncEngine`.

One persistent recursive watch (``addWatch``) on every source root BEFORE the copy, so nothing
changed during the copy is missed. Each batch of events is read back with one ``multiRead`` on
the same connection (ZooKeeper orders answers after the events they reflect) and applied
blindly as one ``multi``: three round trips from change to target. Both connections are the
mirror's own (``LoopSession``), read by the mirror loop itself: an event, the read it causes,
its answer and the write it causes cross no thread. Anything that fails, anything a reconnect
may have hidden, and every difference a periodic reconciliation walk finds is re-checked on
both sides and repaired (counted). The event backlog is capped: beyond it the mirror forgets
events and resynchronises by walking instead.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import Pair, SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    LOG,
    ZkSyncError,
    ZkSyncLoop,
    ZkSyncUnavailable,
    describe_error,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import (
    S_VERSION,
    Node,
    check_redacted,
    child_path,
    parent_path,
    path_depth,
    within,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_writes import FILLER_NAME, Op, Writer

try:
    from kazoo import exceptions as kexc
    from kazoo.protocol.serialization import Exists
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass


class Mirror:
    """A mirror from the source to the target of an open :class:`SyncEngine` (:meth:`run`).

    Watches (:meth:`start_watches`) before the engine's copy, so that nothing changed during
    the copy is missed; then applies every event batch blindly as one ``multi`` on the target
    (:meth:`apply_events`), repairs what a failed batch, a reconnection or a reconciliation walk
    may have hidden (:meth:`repair_batch`), and measures the lag with a heartbeat node.
    """

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.cfg = engine.cfg
        self.src = engine.src
        self.tgt = engine.tgt
        self.metrics = engine.metrics
        self.events: collections.deque = collections.deque()
        self.overflow = False
        self.watching = False
        self.repairs: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.writer = Writer(self.tgt, self.cfg, on_fail=self._mirror_fail)
        self.writer.on_answer = self._mirror_answer
        self._hb_target: str | None = None
        # This run's tag, in the heartbeat it writes on the source: a source node other than the
        # heartbeat that holds it was written by this mirror on the target (one ensemble). And
        # the heartbeat's version: above what this run's own sets explain, its target writes land
        # on the heartbeat itself (same path on one ensemble).
        self.run_id = secrets.token_hex(8)
        self._run_tag = self.run_id.encode()
        self._hb_version: int | None = None
        self._hb_sets = 0
        self._repairing = False
        self._readers_behind = False  # the watch moved: sync the read sessions before a walk
        self.failed_paths: dict[str, int] = {}
        self.cv_credit: dict[str, int] = {}  # parent -> cversion the target is ahead (-1) or owes
        # (max seen, {path: (present, seen)}) of recent event reads that reflect queued events
        self._reads: collections.deque[tuple[int, dict[str, tuple[bool, int]]]] = collections.deque()

    # -- events -------------------------------------------------------------------------------

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
        wire_sessions.pump_any([self.src.loop, self.tgt.loop], timeout)

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
            m = self.engine.mapping_for(path)
            if m is None:
                continue
            if etype in (wire.EVENT_CREATED, wire.EVENT_DELETED):
                if path != m.source:
                    child_events[parent_path(path)] += 1
                # a new life of the node (or none): its counter starts again, so do its debts
                child_events.pop(path, None)
                self.cv_credit.pop(path, None)
            if self.engine.excluded_or_below(path):
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
        paths = sorted(needed, key=path_depth)
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
            m = self.engine.mapping_for(p)
            if m is None:
                continue
            tp = m.to_target(p)
            node = answer
            self.check_own_writes(p, answer)
            if answer is not None and answer.ephemeral:
                self.engine.remember_ephemeral(p)
                node = None
            elif answer is None:
                self.engine.ephemerals.discard(p)
            present[p] = node is not None
            state[p] = (node is not None, seen)
            if had[p] and node is None:
                deletes.append(Op("delete", tp))
                child_ops[parent_path(p)] += 1
            elif had[p] and node is not None and (p in recreated or first[p][1] == wire.EVENT_DELETED):
                deletes.append(Op("delete", tp))
                writes.append(Op("create", tp, node.data, node.acl))
                child_ops[parent_path(p)] += 2
            elif had[p] and node is not None:
                writes.append(Op("set", tp, node.data))
            elif node is not None:
                writes.append(Op("create", tp, node.data, node.acl))
                child_ops[parent_path(p)] += 1
        if paths:
            self._remember_reads(state, max(seens))
        deletes.sort(key=lambda o: -path_depth(o.path))
        for op in deletes + writes:
            self.writer.add(op)
        for parent, count in child_events.items():
            debt = count - child_ops.get(parent, 0) + self.cv_credit.pop(parent, 0)
            m = self.engine.mapping_for(parent)
            if m is None or not present.get(parent, True) or self.engine.excluded_or_below(parent):
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
        return etype != wire.EVENT_CREATED and path not in self.engine.ephemerals

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
        m = next((x for x in self.cfg.paths if within(op.path, x.target)), None)
        if m is None:
            return
        src_path = m.to_source(op.path)
        count = self.failed_paths.get(src_path, 0) + 1
        self.failed_paths[src_path] = count
        if count <= 5:
            self.queue_repair(src_path, count)
        else:
            LOG.warning("giving up on %s after %d failed repairs: %s", src_path, count - 1, message)

    def queue_repair(self, src_path: str, attempt: int = 0) -> None:
        if self.engine.mapping_for(src_path) is None:
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
                self.engine.ensure_op(op, failures)
                if failures:
                    self._note_failure(op, failures[0])
            return
        for op in ops:
            m = next((x for x in self.cfg.paths if within(op.path, x.target)), None)
            if m is not None:
                src_path = m.to_source(op.path)
                self.queue_repair(src_path)
                if op.kind in ("create", "delete", "filler"):
                    parent = src_path if op.kind == "filler" else parent_path(src_path)
                    self.cv_credit.pop(parent, None)
                    self.queue_repair(parent)

    # -- repairs ------------------------------------------------------------------------

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
            tpaths = [self.engine.mapping_for(p).to_target(p) for p in paths]  # type: ignore[union-attr]
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
                self.engine.remember_ephemeral(p)  # its "deleted" event will need no op
            if s is not None:
                check_redacted(s, "source")
            work.append((p, tp, s, t))
        # deletions deepest first, then creations and updates parents first
        work.sort(key=lambda w: (0, -path_depth(w[0])) if w[2] is None else (1, path_depth(w[0])))
        self._repairing = True
        try:
            for p, tp, s, t in work:
                got = self._repair_one(p, tp, s, t, attempts[p])
                if got and LOG.isEnabledFor(logging.DEBUG):
                    LOG.debug("repair %s: %s (attempt %d)", p, self.engine.diff(Pair(p, tp, s, t)), attempts[p])
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
                w.delete_tree(tp)
                return 1
            return 0
        if t is not None and t.ephemeral:
            return 0
        if t is None:
            w.add(Op("create", tp, s.data, s.acl))
            for name in s.children or ():
                if not self.engine.excluded(child_path(p, name)):
                    self.queue_repair(child_path(p, name))
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
        s_kids = {n for n in s.children or () if not self.engine.excluded(child_path(p, n))}
        t_kids = {n for n in t.children or () if n != FILLER_NAME and not self.engine.excluded(child_path(p, n))}
        settled = True
        if self.cfg.delete_extra:  # otherwise the target's own children stay, and may stay
            for name in sorted(t_kids - s_kids):
                self.queue_repair(child_path(p, name))  # deletes it, unless it is an ephemeral
                settled = False
        missing = sorted(s_kids - t_kids)
        if missing:
            kids, _seen = self.src.read_ordered([child_path(p, n) for n in missing], self.cfg.io_timeout, set())
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

    # -- the loop ---------------------------------------------------------------------

    def run(
        self,
        duration: float | None = None,
        stop_marker: str | None = None,
        copy_first: bool = True,
        drain_timeout: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict:
        """Copy (optional), then mirror until ``duration`` passes, ``stop_marker`` appears or
        ``should_stop()`` says so; then drain (within ``drain_timeout``, by default the
        configured one), reconcile once and verify."""
        hb_map = self.engine.mapping_for(self.cfg.heartbeat_path or "")
        self._hb_target = hb_map.to_target(self.cfg.heartbeat_path) if hb_map and self.cfg.heartbeat_path else None
        self.start_watches()  # before the copy: nothing changed meanwhile goes unnoticed
        # ... and the copy's read sessions (other servers, maybe behind the watch's) catch up
        # first: a change between a lagging server's state and the watch would be missed
        self.src.sync("/")
        copy_result = self.engine.copy() if copy_first else None
        # from now on the target's writes and the repairs' reads go through the loop's own
        # session (the copy's writes are all answered: none is in flight on the kazoo one)
        self.tgt.open_loop()
        self.tgt.wait_connected(self.cfg.io_timeout)
        if self.tgt.loop_lost():
            raise ZkSyncUnavailable("target: cannot open a session on any server for the mirror's writes")
        backlog = self.catch_up()
        self.metrics.set_state("mirroring")
        if self.cfg.heartbeat_path:
            self._ensure_heartbeat()
        loop = _MirrorLoop(self, duration, stop_marker, should_stop)
        loop.run()
        self.metrics.set_state("draining")
        if loop.stop_reason == "stop_marker":
            self._remove_heartbeat()
        final_fixes, result = self._finish(self.cfg.drain_timeout if drain_timeout is None else drain_timeout)
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

    def catch_up(self) -> int:
        """Re-check (both sides, not counted as repairs) what changed during the copy."""
        backlog = 0
        while self.events:
            _seq, _etype, path = self.events.popleft()
            backlog += 1
            if self.engine.mapping_for(path) is not None and not self.engine.excluded(path):
                self.queue_repair(path)
                self.queue_repair(parent_path(path))
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
        for pairs in self.engine.walk():
            for pair in pairs:
                if self.engine.diff(pair):
                    self.queue_repair(pair.src_path)
        fixes = self._repair_until(deadline)
        result = self.engine.verify()
        for _round in range(3):
            if result["consistent"] or time.monotonic() >= deadline:
                break
            for d in result["differences"]:
                self.queue_repair(d["path"])
            fixes += self._repair_until(deadline)
            result = self.engine.verify()
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
    """One run of the mirror's main loop: events first, then repairs, then reconciliation
    steps, until the run's end (its duration, the stop marker, ``should_stop``)."""

    def __init__(
        self,
        mirror: Mirror,
        duration: float | None,
        stop_marker: str | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.e = mirror
        self.started = time.monotonic()
        self.deadline = self.started + duration if duration else None
        self.stop_marker = stop_marker
        self.should_stop = should_stop
        self.stop_reason = "duration"
        self.seconds = 0.0
        self.next_hb = self.started
        interval = mirror.cfg.reconcile_interval
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
            if e.watch_lost() or e.tgt.loop_lost() or e.engine.tgt_reconnected.is_set() or e.overflow:
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
                self.walker = e.engine.walk(batch_size=200)
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
        e.engine.tgt_reconnected.clear()
        e.overflow = False
        self.walker = e.engine.walk(batch_size=200)
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
            if e.engine.diff(pair):
                e.queue_repair(pair.src_path)
