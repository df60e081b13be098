# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ZooKeeper wire-protocol pieces the sync engine needs and kazoo 2.11 lacks (private).

* :func:`poll_select`: a drop-in for kazoo's ``handler.select`` that uses one ``poll()`` call
  instead of creating, filling and closing an epoll object on every call (kazoo's
  ``selector_select``); it roughly doubles kazoo's request rate. It is applied per client
  instance (:func:`use_poll_select`), never by editing kazoo.
* :class:`AddWatch` (ZooKeeper 3.6+ ``addWatch``, persistent recursive watches) and
  :class:`MultiRead` (3.6+ ``multiRead`` of ``getData``/``getChildren``): request classes that
  a kazoo client's connection can send (:func:`call`), and whose encodings the raw sessions
  (``_zk_sync_wire_sessions.py``) send themselves.
* The protocol's constants, the encoding and decoding of its strings, buffers, children and
  ACLs, and :class:`Reply`, an answer to wait for.
"""

from __future__ import annotations

import select
import struct
import threading
from collections.abc import Callable, Sequence

INT = struct.Struct("!i")
INT_INT = struct.Struct("!ii")
HEADER = struct.Struct("!iii")  # length, xid, opcode
REPLY = struct.Struct("!iqi")  # xid, zxid, err
MULTI_HEADER = struct.Struct("!iBi")
STAT = struct.Struct("!qqqqiiiqiiq")

OP_GET_DATA = 4
OP_GET_ACL = 6
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_MULTI_READ = 22
OP_ADD_WATCH = 106
OP_AUTH = 100
OP_CLOSE = -11
AUTH_XID = -4
WATCH_XID = -1
PING_XID = -2
ADD_WATCH_PERSISTENT_RECURSIVE = 1

ERR_NO_NODE = -101
ERR_NO_AUTH = -102

EVENT_CREATED = 1
EVENT_DELETED = 2
EVENT_CHANGED = 3
EVENT_CHILD = 4


class WireError(Exception):
    """A connection-level failure of :class:`WireSession` (retryable on another server)."""


class WireAuthError(WireError):
    """The server refused the credentials."""


SELECT_FD_LIMIT = 1024  # FD_SETSIZE: select() cannot watch descriptors from this one on


def _fileno(obj: object) -> int:
    return obj if isinstance(obj, int) else obj.fileno()  # type: ignore[attr-defined]


def poll_select(rlist: Sequence, wlist: Sequence, xlist: Sequence, timeout: float | None = None) -> tuple:
    """``select.select`` semantics on ``poll()``: no fd limit and no per-call epoll object.

    Small descriptors (the usual case) go to ``select.select`` itself, which costs half as
    much for the one or two sockets kazoo asks about, several times per message read.
    """
    del xlist  # kazoo never passes exceptional fds
    if all(_fileno(o) < SELECT_FD_LIMIT for o in rlist) and all(_fileno(o) < SELECT_FD_LIMIT for o in wlist):
        return select.select(rlist, wlist, [], None if timeout is None else max(0.0, timeout))
    poller = select.poll()
    masks: dict[int, int] = {}
    for obj in rlist:
        fd = _fileno(obj)
        masks[fd] = masks.get(fd, 0) | select.POLLIN
    for obj in wlist:
        fd = _fileno(obj)
        masks[fd] = masks.get(fd, 0) | select.POLLOUT
    for fd, mask in masks.items():
        poller.register(fd, mask)
    ready = dict(poller.poll(None if timeout is None else max(0.0, timeout) * 1000.0))
    readable_bits = select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLPRI
    writable_bits = select.POLLOUT | select.POLLHUP | select.POLLERR
    rout = [o for o in rlist if ready.get(_fileno(o), 0) & readable_bits]
    wout = [o for o in wlist if ready.get(_fileno(o), 0) & writable_bits]
    return rout, wout, []


def use_poll_select(client: object) -> None:
    """Make one kazoo client's connection loop use :func:`poll_select` instead of kazoo's
    per-call epoll selector (the loop looks ``handler.select`` up on every call)."""
    client.handler.select = poll_select  # type: ignore[attr-defined]


def write_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return INT.pack(len(raw)) + raw


def write_buffer(data: bytes | None) -> bytes:
    if data is None:
        return INT.pack(-1)
    return INT.pack(len(data)) + data


def read_string(buf: bytes, offset: int) -> tuple[str, int]:
    (length,) = INT.unpack_from(buf, offset)
    offset += 4
    if length < 0:
        return "", offset
    return bytes(buf[offset : offset + length]).decode("utf-8"), offset + length


def read_buffer(buf: bytes, offset: int) -> tuple[bytes | None, int]:
    (length,) = INT.unpack_from(buf, offset)
    offset += 4
    if length < 0:
        return None, offset
    return bytes(buf[offset : offset + length]), offset + length


def read_children(buf: bytes, offset: int) -> tuple[list[str], int]:
    (count,) = INT.unpack_from(buf, offset)
    offset += 4
    out = []
    for _i in range(max(count, 0)):
        name, offset = read_string(buf, offset)
        out.append(name)
    return out, offset


def read_acl(buf: bytes, offset: int) -> tuple[list[tuple[str, str, int]], int]:
    """``[(scheme, id, perms)]`` followed by the node's stat (skipped)."""
    (count,) = INT.unpack_from(buf, offset)
    offset += 4
    out = []
    for _i in range(max(count, 0)):
        (perms,) = INT.unpack_from(buf, offset)
        scheme, offset = read_string(buf, offset + 4)
        ident, offset = read_string(buf, offset)
        out.append((scheme, ident, perms))
    return out, offset


# ---------------------------------------------------------------------------------------------
# kazoo protocol extension
# ---------------------------------------------------------------------------------------------


class AddWatch:
    """``addWatch(path, mode)``: a persistent (recursive) watch, answered with an empty body."""

    type = OP_ADD_WATCH

    def __init__(self, path: str, mode: int = ADD_WATCH_PERSISTENT_RECURSIVE) -> None:
        self.path = path
        self.mode = mode

    def serialize(self) -> bytes:
        return write_string(self.path) + INT.pack(self.mode)

    @classmethod
    def deserialize(cls, buf: bytes, offset: int) -> bool:
        del buf, offset
        return True

    def __repr__(self) -> str:
        return f"AddWatch({self.path!r}, {self.mode})"


class MultiRead:
    """``multiRead``: several ``getData``/``getChildren`` in one request.

    The answer is a list in request order of ``(data, stat_tuple)`` for getData,
    ``list[str]`` for getChildren, or an ``int`` ZooKeeper error code (``-101`` = no node).
    """

    type = OP_MULTI_READ

    def __init__(self, ops: Sequence[tuple[int, str]]) -> None:
        self.ops = list(ops)

    def serialize(self) -> bytes:
        parts = []
        for op, path in self.ops:
            parts.append(MULTI_HEADER.pack(op, 0, -1))
            parts.append(write_string(path))
            parts.append(b"\x00")
        parts.append(MULTI_HEADER.pack(-1, 1, -1))
        return b"".join(parts)

    @classmethod
    def deserialize(cls, buf: bytes, offset: int) -> list:
        out: list = []
        while True:
            op, done, err = MULTI_HEADER.unpack_from(buf, offset)
            offset += MULTI_HEADER.size
            if done:
                return out
            if op == -1:
                (code,) = INT.unpack_from(buf, offset)
                offset += 4
                out.append(code or err)
            elif op == OP_GET_DATA:
                data, offset = read_buffer(buf, offset)
                stat = STAT.unpack_from(buf, offset)
                offset += STAT.size
                out.append((data, stat))
            elif op == OP_GET_CHILDREN:
                children, offset = read_children(buf, offset)
                out.append(children)
            else:
                raise ValueError(f"unexpected multiRead result type {op}")

    def __repr__(self) -> str:
        return f"MultiRead({len(self.ops)} ops)"


class Reply:
    """What kazoo's connection thread fills in for a request sent with :func:`call`.

    ``events_before`` is the number of watch events the hook had seen when the answer was
    read: ZooKeeper orders events and answers on one connection, so every change the answer
    reflects was announced by one of those events.
    """

    __slots__ = ("_callback", "_counter", "_done", "events_before", "exc", "value")

    def __init__(self, counter: Callable[[], int], callback: Callable[[object], None] | None = None) -> None:
        self._counter = counter
        self._callback = callback
        self._done = threading.Event()
        self.value: object = None
        self.exc: BaseException | None = None
        self.events_before = 0

    def set(self, value: object = None) -> None:
        self.events_before = self._counter()
        self.value = value
        if self._callback is not None:
            try:
                self._callback(value)
            except Exception:  # noqa: S110  # a metrics hook must never break the connection thread
                pass
        self._done.set()

    def set_exception(self, exc: BaseException) -> None:
        self.events_before = self._counter()
        self.exc = exc
        self._done.set()

    def ready(self) -> bool:
        return self._done.is_set()

    def get(self, timeout: float) -> object:
        if not self._done.wait(timeout):
            raise WireError(f"no answer from ZooKeeper within {timeout}s")
        if self.exc is not None:
            raise self.exc
        return self.value


def call(
    client: object, request: object, counter: Callable[[], int], callback: Callable[[object], None] | None = None
) -> Reply:
    """Queue ``request`` on a kazoo client's connection; returns at once.

    ``callback(value)`` runs in the connection thread when the answer is read.
    """
    reply = Reply(counter, callback)
    client._call(request, reply)  # type: ignore[attr-defined]
    return reply


def get_data_payload(path: str) -> bytes:
    return write_string(path) + b"\x00"


def path_payload(path: str) -> bytes:
    return write_string(path)
