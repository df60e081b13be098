# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's sessions on an ensemble (private): :class:`EnsembleSessions`.

One per side (source, target), each holding three kinds of session: a kazoo client, the
pipelined read sessions of the bulk walks, and the mirror loop's own session
(``_zk_sync_wire.py`` has the last two). Reads come back as :class:`Node` s.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import SERVICE_TIMEOUT
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    LOG,
    ZkSyncError,
    ZkSyncUnavailable,
    describe_error,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_nodes import Acl, Node, acl_tuple

try:
    from kazoo import exceptions as kexc
    from kazoo.protocol.serialization import GetACL
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass

# A mirror must outlive leader elections and restarts: reconnect forever (the first connection
# must still succeed within the timeout).
RETRY_FOREVER = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 2.0}
# The smallest share of a read batch worth a read session of its own.
MIN_READ_PART = 200


def _kazoo_decoder(request: object) -> Callable[[int, bytes], object]:
    """Decode an answer to ``request`` as kazoo's connection does: an error code becomes its
    kazoo exception, a body the request's own result."""

    def decode(err: int, body: bytes) -> object:
        if err:
            raise kexc.EXCEPTIONS[err]()
        return request.deserialize(body, 0)  # type: ignore[attr-defined]

    return decode


class EnsembleSessions:
    """The engine's sessions on one ensemble (the source's or the target's), three kinds:

    * ``client``: a kazoo session (:func:`_zk.connect`, retrying forever), with kazoo's
      selector replaced (:func:`wire.use_poll_select`). The copy's writes and the heartbeat
      go through it.
    * ``readers``: ``read_sessions`` pipelined :class:`wire_sessions.WireSession` s spread over the
      servers, for the bulk reads of the copy and verify walks (:meth:`fetch`).
    * ``loop``: the mirror's own :class:`wire_sessions.LoopSession` (:meth:`open_loop`), read by the
      mirror loop itself: on the source the watch and the reads its events cause, on the
      target the mirror's writes and the repairs' reads (:meth:`submit`, :meth:`read_ordered`).
    """

    def __init__(self, name: str, params: dict, read_sessions: int = 1) -> None:
        self.name = name
        self.params = params
        self.read_sessions = read_sessions
        self.client = None
        # pipelined read sessions, spread over the servers: a server answers one session's
        # requests one after another (a getACL each, per node), so bulk reads scale with sessions
        self.readers: list[wire_sessions.WireSession] = []
        self._read_pool: ThreadPoolExecutor | None = None
        self._fetch_lock = threading.Lock()
        # the session the mirror loop reads itself (see wire_sessions.LoopSession): the source's watch
        # and the reads it causes, the target's writes and the repairs' reads
        self.loop: wire_sessions.LoopSession | None = None
        self.event_seq = 0
        self.servers: list[tuple[str, int]] = []
        self.auth: list[tuple[str, str]] = []
        self.ssl_context: ssl.SSLContext | None = None

    def open(self) -> None:
        try:
            client = _zk.connect(self.params, connection_retry=RETRY_FOREVER)
        except _zk.ZkUnavailable as exc:
            raise ZkSyncUnavailable(f"{self.name}: {exc}") from exc
        except _zk.ZkError as exc:
            raise ZkSyncError(f"{self.name}: {exc}") from exc
        wire.use_poll_select(client)
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
        self.servers, self.auth, self.ssl_context = servers, auth, ctx
        for i in range(self.read_sessions):
            first = i % len(servers)  # each session starts (and reconnects) at another server
            reader = wire_sessions.WireSession(
                servers[first:] + servers[:first],
                auth,
                timeout=self.session_timeout(),
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

    def session_timeout(self) -> float:
        return float(self.params.get("timeout") or SERVICE_TIMEOUT)

    def open_loop(self, on_event: Callable[[int, str], None] | None = None) -> wire_sessions.LoopSession:
        """The mirror loop's own session (not connected yet); from now on :meth:`submit` and
        :meth:`read_ordered` use it instead of the kazoo session."""
        if self.loop is None:
            self.loop = wire_sessions.LoopSession(
                self.servers,
                on_event,
                self.counter,
                auth=self.auth,
                timeout=self.session_timeout(),
                ssl_context=self.ssl_context,
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

    def _fetch_on(self, reader: wire_sessions.WireSession, paths: list[str]) -> list[Node | None]:
        out: list[Node | None] = []
        for start in range(0, len(paths), 2000):
            out.extend(self._fetch_chunk(reader, paths[start : start + 2000]))
        return out

    def _fetch_chunk(self, reader: wire_sessions.WireSession, paths: list[str]) -> list[Node | None]:
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
            out.append(Node(p, got[0], got[1], acl_tuple(acl), kids))
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
            acls.append((acl_tuple([(a.id.scheme, a.id.id, a.perms) for a in answer[0]]), answer[1].czxid))
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
            acls.append((acl_tuple(acl), czxid))
        return answered, acls
