# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's writes to the target (private): :class:`Op`, :class:`Writer` and,
for check mode, :class:`CountingWriter`.

Writes go out as ``multi`` batches in the order they are added (parents before children,
deletions deepest first), below ZooKeeper's 1 MB request limit, several in flight; ``setACL``
cannot be part of a ``multi`` and is sent on its own, in order.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable
from typing import Literal

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import SyncConfig
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import LOG, MultiFailed
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import (
    Acl,
    child_path,
    subtree_paths,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_sessions import EnsembleSessions

try:
    from kazoo import exceptions as kexc
    from kazoo.protocol.serialization import Create, Delete, SetACL, SetData, Transaction
    from kazoo.security import ACL, Id
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass

OpKind = Literal["create", "set", "acl", "delete", "filler"]
FILLER_NAME = "zk_sync.cversion_filler"
WORLD_ALL: Acl = (("world", "anyone", 31),)


@functools.lru_cache(maxsize=256)
def kazoo_acls(acl: Acl) -> tuple:
    """kazoo's ACL objects for ``acl``, built once per distinct ACL: a tree has few distinct
    ACLs, and building them for each of its nodes was a tenth of a copy's own CPU. The
    objects are immutable named tuples, so the requests can share them."""
    return tuple(ACL(perms, Id(scheme, ident)) for scheme, ident, perms in acl)


class Op:
    """One write to the target: ``create`` (data and ACL), ``set`` (data), ``acl``, ``delete``
    (one node) or ``filler`` (``pairs`` create+delete pairs of :data:`FILLER_NAME` under
    ``path``, which move its child counter, ``cversion``, by two each)."""

    __slots__ = ("acl", "data", "kind", "pairs", "path")

    def __init__(self, kind: OpKind, path: str, data: bytes | None = None, acl: Acl = (), pairs: int = 0) -> None:
        self.kind = kind
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
            return [Create(self.path, self.data, kazoo_acls(self.acl), 0)]
        if self.kind == "set":
            return [SetData(self.path, self.data, -1)]
        if self.kind == "delete":
            return [Delete(self.path, -1)]
        if self.kind == "filler":
            filler = child_path(self.path, FILLER_NAME)
            out: list = []
            for _i in range(self.pairs):
                out += [Create(filler, b"", kazoo_acls(WORLD_ALL), 0), Delete(filler, -1)]
            return out
        raise ValueError(self.kind)


def describe_failed_op(ops: list[Op], result: list) -> str:
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
    """Send :class:`Op` s to the target in order as ``multi`` batches (at most
    ``max_multi_ops`` requests and ``max_multi_bytes``), ``write_window`` batches in flight.

    A batch that fails goes to ``on_fail`` with its error; ``on_answer``, when set, sees every
    batch's answer as it is read (the mirror measures the heartbeat's lag there).
    """

    def __init__(
        self,
        target: EnsembleSessions,
        cfg: SyncConfig,
        on_fail: Callable[[list[Op], BaseException | None], None],
    ) -> None:
        self.target = target
        self.cfg = cfg
        self.on_fail = on_fail
        self.batch: list[Op] = []
        self.batch_bytes = 0
        self.batch_reqs = 0
        self.inflight: collections.deque = collections.deque()
        self.on_answer: Callable[[list[Op], object], None] | None = None

    def add(self, op: Op) -> None:
        if op.kind == "acl":  # multi cannot carry setACL: its own request, in order
            self.flush()
            reply = self.target.submit(SetACL(op.path, kazoo_acls(op.acl), -1))
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
        reply = self.target.submit(Transaction(reqs), self._watch_paths(batch))
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
            failed = MultiFailed(first, describe_failed_op(ops, result))
            if LOG.isEnabledFor(logging.DEBUG):
                LOG.debug("multi failed: %s", failed)
            self.on_fail(ops, failed)

    def poll(self) -> None:
        while self.inflight and self.inflight[0][1].ready():
            self._complete_one()

    def drain(self) -> None:
        self.flush()
        while self.inflight:
            self._complete_one()

    def delete_tree(self, root: str) -> None:
        """Delete a target subtree deepest first (its nodes are listed with the fast reader)."""
        for p in reversed(subtree_paths(root, self.target.fetch)):
            self.add(Op("delete", p))


class CountingWriter:
    """What check mode writes with: counts the ops a :class:`Writer` would send (per kind, and
    the subtrees it would delete, without listing them) and sends nothing."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, op: Op) -> None:
        self.counts[op.kind] += 1

    def delete_tree(self, root: str) -> None:
        del root
        self.counts["delete_tree"] += 1

    def flush(self) -> None:
        """Nothing is sent, so nothing waits."""

    def drain(self) -> None:
        """Nothing is sent, so nothing waits."""
