# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Raw-socket ZooKeeper sessions of the sync engine (private), where kazoo's one request per
turn of its connection loop is too slow or its threads are in the way.

* :class:`WireSession`: a small pipelined read-only client on a raw socket (plain or TLS,
  digest auth) for bulk tree walks: it sends thousands of requests at once and parses the
  answers in one pass, which kazoo's one-request-per-loop design cannot do.
* :class:`LoopSession`: a :class:`WireSession` read by its caller's thread (the mirror's main
  loop), not by a thread of its own. On the source it holds the persistent watches, so an
  event, the read it causes and that read's answer cross no thread; on the target it carries
  the mirror's writes (:meth:`LoopSession.submit`) and the repairs' reads, so they stay
  ordered with each other. A keeper thread reads and pings only while the caller is busy
  elsewhere. :func:`pump_any` waits for whichever session has something to read.
* :func:`same_ensemble`: whether two server lists are one ensemble, asked of the servers (a
  session opened on one is resumed on the other).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence

from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_wire import (
    AUTH_XID,
    HEADER,
    INT,
    INT_INT,
    OP_AUTH,
    OP_CLOSE,
    OP_PING,
    OP_SYNC,
    PING_XID,
    REPLY,
    WATCH_XID,
    Reply,
    WireAuthError,
    WireError,
    path_payload,
    read_buffer,
    read_string,
    write_buffer,
    write_string,
)


class LoopReply(Reply):
    """A :class:`Reply` to a request sent on a :class:`LoopSession`: nobody else reads that
    session, so waiting for the answer reads it (and whatever else it brings)."""

    __slots__ = ("_session",)

    def __init__(
        self, session: LoopSession, counter: Callable[[], int], callback: Callable[[object], None] | None
    ) -> None:
        super().__init__(counter, callback)
        self._session = session

    def get(self, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while not self.ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireError(f"no answer from ZooKeeper within {timeout}s")
            if self._session.lost.is_set():
                if self.ready():  # answered (or failed) just before the session broke
                    break
                raise WireError("the session broke before the answer came")
            try:
                self._session.pump(min(remaining, 0.5))
            except WireError:
                pass  # the session failed every request it carried: this one is answered now
        return super().get(0)


class WireSession:
    """A read-only ZooKeeper session on a raw socket that pipelines whole batches.

    ``call_many([(opcode, payload), ...])`` sends every request at once and returns
    ``[(err, body)]`` in order. On a connection problem it reconnects (to the next server)
    and resends the batch: only reads are sent, so a resend is harmless.
    """

    def __init__(
        self,
        servers: Sequence[tuple[str, int]],
        auth: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        attempts: int = 6,
    ) -> None:
        if not servers:
            raise WireError("no server to connect to")
        self.servers = list(servers)
        self.auth = list(auth)
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.attempts = attempts
        self._sock: socket.socket | ssl.SSLSocket | None = None
        self._next = 0
        self._xid = 0
        self._last_io = 0.0
        self._session_timeout = timeout
        self.server: tuple[str, int] | None = None

    # -- connection ---------------------------------------------------------------------------

    def close(self) -> None:
        self._drop_socket()

    def _drop_socket(self) -> None:
        """Say goodbye to the server (ends the session at once) and close the socket."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.settimeout(1.0)
            sock.sendall(HEADER.pack(8, 1, OP_CLOSE))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def connect(self, prefer: tuple[str, int] | None = None) -> None:
        """Connect to ``prefer`` (or the next server in turn) and authenticate."""
        self._drop_socket()
        errors = []
        order = list(self.servers)
        if prefer is not None:
            order = [prefer] + [s for s in order if s != prefer]
        else:
            order = order[self._next :] + order[: self._next]
            self._next = (self._next + 1) % len(self.servers)
        for host, port in order:
            try:
                self._open(host, port)
                self.server = (host, port)
                return
            except WireAuthError:
                self._drop_socket()
                raise
            except (OSError, WireError, struct.error) as exc:
                self._drop_socket()
                errors.append(f"{host}:{port}: {exc}")
        raise WireError("cannot open a session on any server (" + "; ".join(errors) + ")")

    def _open(self, host: str, port: int) -> None:
        raw = socket.create_connection((host, port), timeout=self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket | ssl.SSLSocket = raw
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(raw, server_hostname=host)
        sock.settimeout(self.timeout)
        self._sock = sock
        timeout_ms = int(self.timeout * 1000)
        body = struct.pack("!iqiq", 0, 0, timeout_ms, 0) + write_buffer(b"\x00" * 16) + b"\x00"
        sock.sendall(INT.pack(len(body)) + body)
        answer = self._read_frame_blocking()
        _proto, negotiated, session_id = struct.unpack_from("!iiq", answer, 0)
        if negotiated <= 0 or session_id == 0:
            raise WireError("server refused the session (not serving, or expired)")
        self._session_timeout = negotiated / 1000.0
        for scheme, credential in self.auth:
            frame = INT.pack(AUTH_XID) + INT.pack(OP_AUTH) + INT.pack(0) + write_string(scheme)
            frame += write_buffer(credential.encode("utf-8"))
            sock.sendall(INT.pack(len(frame)) + frame)
            reply = self._read_frame_blocking()
            _xid, _zxid, err = REPLY.unpack_from(reply, 0)
            if err:
                raise WireAuthError(f"authentication ({scheme}) refused by {host}:{port} (error {err})")
        self._last_io = time.monotonic()

    def _read_exact(self, count: int) -> bytes:
        if self._sock is None:
            raise WireError("not connected")
        chunks = []
        while count:
            chunk = self._sock.recv(min(count, 1 << 20))
            if not chunk:
                raise WireError("connection closed by the server")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def _read_frame_blocking(self) -> bytes:
        (length,) = INT.unpack(self._read_exact(4))
        return self._read_exact(length)

    # -- requests -----------------------------------------------------------------------------

    def call_many(self, requests: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Send every request, return ``[(err, body)]`` in order (retries on other servers)."""
        if not requests:
            return []
        last: Exception | None = None
        for _attempt in range(self.attempts):
            idle = time.monotonic() - self._last_io
            if self._sock is None or idle > self._session_timeout / 3:
                try:
                    self.connect()
                except WireAuthError:
                    raise
                except WireError as exc:
                    last = exc
                    time.sleep(0.2)  # back off before the next server
                    continue
            try:
                return self._exchange(requests)
            except (OSError, WireError, struct.error) as exc:
                last = exc
                self.close()
        raise WireError(f"reading from ZooKeeper failed {self.attempts} times: {last}")

    def _exchange(self, requests: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:  # noqa: PLR0912,PLR0915
        if self._sock is None:
            raise WireError("not connected")
        first = self._xid + 1
        parts = []
        for op, payload in requests:
            self._xid = (self._xid % 2_000_000_000) + 1
            parts.append(HEADER.pack(len(payload) + 8, self._xid, op))
            parts.append(payload)
        out = memoryview(b"".join(parts))
        want = len(requests)
        results: list[tuple[int, bytes]] = []
        buf = bytearray()
        sock = self._sock
        deadline = time.monotonic() + max(self.timeout, 5.0) + want / 2000.0
        if isinstance(sock, ssl.SSLSocket):
            sock.sendall(out)
            while len(results) < want:
                frame = self._read_frame_blocking()
                self._take(frame, results, first)
            self._last_io = time.monotonic()
            return results
        sock.setblocking(False)
        try:
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLOUT)
            sent = 0
            while len(results) < want:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WireError(f"{self.server}: no answer to {want - len(results)} of {want} requests in time")
                if sent >= len(out):
                    poller.modify(sock.fileno(), select.POLLIN)
                events = poller.poll(remaining * 1000.0)
                for _fd, ev in events:
                    if ev & select.POLLOUT and sent < len(out):
                        sent += sock.send(out[sent : sent + (1 << 20)])
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            raise WireError("connection closed by the server")
                        buf += chunk
                        pos = 0
                        while len(buf) - pos >= 4:
                            (length,) = INT.unpack_from(buf, pos)
                            if len(buf) - pos - 4 < length:
                                break
                            self._take(bytes(buf[pos + 4 : pos + 4 + length]), results, first)
                            pos += 4 + length
                        if pos:
                            del buf[:pos]
        finally:
            sock.setblocking(True)
            sock.settimeout(self.timeout)
        self._last_io = time.monotonic()
        return results

    @staticmethod
    def _take(frame: bytes, results: list, first: int) -> None:
        xid, _zxid, err = REPLY.unpack_from(frame, 0)
        if xid < 0:  # a ping answer or a stray notification: not ours
            return
        del first
        results.append((err, frame[REPLY.size :]))


def _handshake(
    server: tuple[str, int],
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    session_id: int = 0,
    passwd: bytes = b"\x00" * 16,
) -> tuple[socket.socket | ssl.SSLSocket, int, int, bytes]:
    """Open a connection and send a ConnectRequest (a new session, or ``session_id`` resumed);
    returns the socket and the answer's negotiated timeout, session id and password."""
    host, port = server
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket | ssl.SSLSocket = raw
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(raw, server_hostname=host)
        sock.settimeout(timeout)
        # lastZxidSeen 0: a server never refuses a client for having seen more than it has
        body = struct.pack("!iqiq", 0, 0, int(timeout * 1000), session_id) + write_buffer(passwd) + b"\x00"
        sock.sendall(INT.pack(len(body)) + body)
        head = b""
        while len(head) < 4:
            chunk = sock.recv(4 - len(head))
            if not chunk:
                raise WireError("connection closed by the server before it answered the handshake")
            head += chunk
        (length,) = INT.unpack(head)
        answer = b""
        while len(answer) < length:
            chunk = sock.recv(length - len(answer))
            if not chunk:
                raise WireError("connection closed by the server during the handshake")
            answer += chunk
        _proto, negotiated, got_id = struct.unpack_from("!iiq", answer, 0)
        got_pw, _off = read_buffer(answer, 16)
    except BaseException:
        sock.close()
        raise
    return sock, negotiated, got_id, got_pw or b""


def _say_goodbye(sock: socket.socket | ssl.SSLSocket, close_session: bool) -> None:
    try:
        if close_session:
            sock.settimeout(1.0)
            sock.sendall(HEADER.pack(8, 1, OP_CLOSE))
    except OSError:
        pass
    finally:
        sock.close()


def same_ensemble(
    a_servers: Sequence[tuple[str, int]],
    b_servers: Sequence[tuple[str, int]],
    timeout: float,
    a_ssl: ssl.SSLContext | None = None,
    b_ssl: ssl.SSLContext | None = None,
) -> tuple[bool | None, str]:
    """Whether the servers ``a_servers`` and ``b_servers`` belong to one ensemble, asked of them.

    A session is opened on a server of A, then resumed (its id and password) on a server of B,
    as a client does after losing its server. A server asks its ensemble's leader about a
    resumed session: it takes the session over when its ensemble created it (ZooKeeper
    replicates session creation), and answers "expired" (timeout 0) when its ensemble never
    heard of it. So whatever addresses, names, proxies or NAT lie in between, the answer
    comes from the servers themselves; nothing is written. Returns ``(True, why)``,
    ``(False, why)``, or ``(None, why)`` when no server of B answered the handshake.
    The probe session is closed on whichever server holds it.
    """
    errors: list[str] = []
    a_sock = None
    a_name = ""
    session_id, passwd = 0, b""
    for server in a_servers:
        try:
            a_sock, negotiated, session_id, passwd = _handshake(server, timeout, a_ssl)
        except (OSError, WireError, struct.error) as exc:
            errors.append(f"{server[0]}:{server[1]}: {exc}")
            continue
        if negotiated > 0 and session_id:
            a_name = f"{server[0]}:{server[1]}"
            break
        _say_goodbye(a_sock, False)
        a_sock = None
        errors.append(f"{server[0]}:{server[1]}: refused a new session (not serving)")
    if a_sock is None:
        return None, "no server of the first ensemble opened a session (" + "; ".join(errors) + ")"
    try:
        for server in b_servers:
            name = f"{server[0]}:{server[1]}"
            try:
                b_sock, negotiated, got_id, _pw = _handshake(server, timeout, b_ssl, session_id, passwd)
            except (OSError, WireError, struct.error) as exc:
                errors.append(f"{name}: {exc}")
                continue
            if negotiated > 0 and got_id == session_id:
                _say_goodbye(b_sock, True)  # B holds the session now: it ends it
                _say_goodbye(a_sock, False)
                a_sock = None
                return True, f"{name} resumed the session 0x{session_id:x} that {a_name} had just opened"
            _say_goodbye(b_sock, False)
            if negotiated <= 0:
                return False, f"{name} does not know the session 0x{session_id:x} that {a_name} had just opened"
            errors.append(f"{name}: answered with another session (0x{got_id:x})")
        return None, "no server of the second ensemble answered the resumed session (" + "; ".join(errors) + ")"
    finally:
        if a_sock is not None:
            _say_goodbye(a_sock, True)


class LoopSession(WireSession):
    """A session read by whoever calls it (the mirror's main loop), not by a thread of its own.

    ``on_event(type, path)`` runs for every watch event, in the server's order. Requests go
    out with :meth:`send`; :meth:`wait` reads until their answers are in, each with the
    ``counter()`` value when it was read: ZooKeeper orders one connection's events and
    answers, so an answer reflects exactly the changes announced by the events read before
    it. :meth:`submit` sends one request whose answer is decoded when it is read (a write
    whose result the caller collects later). :meth:`pump` reads whatever has arrived. While
    nobody has read for a while (the owner copies a large tree, say), a keeper thread reads
    instead, so events are queued, pings keep the session alive and the server never
    buffers for a silent client.

    :meth:`connect` makes its server catch up with the leader (``sync``) before it returns, so
    the session reads at least every write acknowledged before, on any session. A server that
    sends nothing for two thirds of the session timeout, pings included, is taken for dead.
    A connection that fails is closed, every request still unanswered fails with
    :class:`WireError`, and :attr:`lost` is set: watches are gone, events may have been
    missed, writes in flight may or may not have been applied. :meth:`connect` (to the next
    server) opens a new session; the owner then adds its watches again and re-checks what
    the lost session may have hidden.
    """

    KEEPER_IDLE = 0.3  # seconds without a read by the owner before the keeper reads

    def __init__(
        self,
        servers: Sequence[tuple[str, int]],
        on_event: Callable[[int, str], None] | None = None,
        counter: Callable[[], int] | None = None,
        *,
        auth: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(servers, auth, timeout, ssl_context)
        self.on_event = on_event
        self.counter: Callable[[], int] = counter or (lambda: 0)
        self.lost = threading.Event()
        self.lost.set()  # no session yet
        self._lock = threading.RLock()  # one reader or writer of the socket at a time
        self._answers: dict[int, tuple[int, bytes, int]] = {}
        # xid -> (decode(err, body), reply) of requests sent with submit()
        self._replies: dict[int, tuple[Callable[[int, bytes], object], LoopReply]] = {}
        self._buf = bytearray()
        self._last_read = time.monotonic()
        self._last_send = time.monotonic()
        self._last_recv = time.monotonic()
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None
        self._poller = select.poll()

    def connect(self, prefer: tuple[str, int] | None = None) -> None:
        with self._lock:
            super().connect(prefer)
            self._poller = select.poll()  # no descriptor limit, unlike select()
            self._poller.register(self._sock, select.POLLIN)  # type: ignore[arg-type]
            self._answers.clear()
            self._buf = bytearray()
            self._last_read = self._last_send = self._last_recv = time.monotonic()
            self.lost.clear()
            # a server behind the leader would answer reads from before writes already made
            # (through another session, or by this one's previous life): catch up first
            (err, _body, _seen) = self.wait(self.send([(OP_SYNC, path_payload("/"))]), self.timeout)[0]
            if err:
                raise self._fail(f"sync refused with ZooKeeper error {err}")
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="zk-sync-loop-keeper", daemon=True)
            self._keeper.start()

    def close(self) -> None:
        self._closing.set()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.join(5.0)
        with self._lock:
            self._drop_socket()
            self._fail_replies("the session was closed")
            self.lost.set()
        if keeper is None or not keeper.is_alive():  # else it must still see _closing and end
            self._closing.clear()

    def _fail(self, why: str) -> WireError:
        """The connection is unusable: close it, fail what it carried, mark the watches lost."""
        self._drop_socket()
        self._answers.clear()
        self._fail_replies(why)
        self.lost.set()
        return WireError(f"{self.server}: {why}")

    def _fail_replies(self, why: str) -> None:
        replies, self._replies = self._replies, {}
        for _decode, reply in replies.values():
            reply.set_exception(WireError(f"{self.server}: {why} before the answer came"))

    def _socket(self) -> socket.socket | ssl.SSLSocket:
        if self._sock is None or self.lost.is_set():
            raise WireError("the session is not connected")
        return self._sock

    def fileno(self) -> int:
        """The socket's descriptor (for :func:`pump_any`); -1 while not connected."""
        sock = self._sock
        return -1 if sock is None or self.lost.is_set() else sock.fileno()

    def buffered(self) -> bool:
        """Decrypted TLS bytes are waiting that ``poll()`` cannot see (False while the keeper
        is reading: the TLS object is not to be used by two threads at once)."""
        if not isinstance(self._sock, ssl.SSLSocket) or not self._lock.acquire(blocking=False):
            return False
        try:
            sock = self._sock
            return isinstance(sock, ssl.SSLSocket) and not self.lost.is_set() and sock.pending() > 0
        finally:
            self._lock.release()

    def send(self, requests: Sequence[tuple[int, bytes]]) -> list[int]:
        """Send requests at once; returns their xids (answers come with :meth:`wait`)."""
        with self._lock:
            sock = self._socket()
            xids = []
            parts = []
            for op, payload in requests:
                self._xid = (self._xid % 2_000_000_000) + 1
                xids.append(self._xid)
                parts.append(HEADER.pack(len(payload) + 8, self._xid, op))
                parts.append(payload)
            try:
                sock.sendall(b"".join(parts))
            except OSError as exc:
                raise self._fail(f"sending failed: {exc}") from exc
            self._last_send = time.monotonic()
            return xids

    def submit(
        self,
        op: int,
        payload: bytes,
        decode: Callable[[int, bytes], object],
        callback: Callable[[object], None] | None = None,
    ) -> LoopReply:
        """Send one request; its answer, ``decode(err, body)`` (which may raise), fills the reply.

        ``callback(value)`` runs when a successful answer is read, in the reading thread. A
        request the session cannot send fails at once (the reply holds the error).
        """
        reply = LoopReply(self, self.counter, callback)
        with self._lock:  # registered before any thread can read its answer
            try:
                (xid,) = self.send([(op, payload)])
            except WireError as exc:
                reply.set_exception(exc)
                return reply
            self._replies[xid] = (decode, reply)
        return reply

    def wait(self, xids: Sequence[int], timeout: float) -> list[tuple[int, bytes, int]]:
        """``[(err, body, events_before)]`` of each request, reading (and dispatching) meanwhile."""
        deadline = time.monotonic() + timeout
        with self._lock:
            answers = self._answers
            while any(x not in answers for x in xids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._fail(f"no answer within {timeout}s")
                self._read(remaining)
            return [answers.pop(x) for x in xids]

    def pump(self, timeout: float = 0.0) -> int:
        """Read what has arrived, waiting up to ``timeout`` for it; returns the frames read."""
        with self._lock:
            return self._read(timeout)

    def _read(self, timeout: float) -> int:
        sock = self._socket()
        now = time.monotonic()
        self._last_read = now
        if now - self._last_recv > self._session_timeout * 2 / 3:
            # pings go out after a third of it without sending: a live server has answered one
            raise self._fail(f"nothing received for {now - self._last_recv:.1f}s, not even a ping's answer")
        if now - self._last_send > self._session_timeout / 3:
            try:
                sock.sendall(HEADER.pack(8, PING_XID, OP_PING))
            except OSError as exc:
                raise self._fail(f"ping failed: {exc}") from exc
            self._last_send = now
        # wait no longer than until the next ping is due (the caller reads again)
        timeout = min(timeout, self._last_send + self._session_timeout / 3 - now)
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending and not self._poller.poll(max(0.0, timeout) * 1000.0):
            return 0
        try:
            chunk = sock.recv(1 << 20)
        except OSError as exc:
            raise self._fail(f"reading failed: {exc}") from exc
        if not chunk:
            raise self._fail("connection closed by the server")
        self._last_recv = time.monotonic()
        buf = self._buf
        buf += chunk
        pos = frames = 0
        while len(buf) - pos >= 4:
            (length,) = INT.unpack_from(buf, pos)
            if len(buf) - pos - 4 < length:
                break
            self._dispatch(bytes(buf[pos + 4 : pos + 4 + length]))
            pos += 4 + length
            frames += 1
        if pos:
            del buf[:pos]
        return frames

    def _dispatch(self, frame: bytes) -> None:
        xid, _zxid, err = REPLY.unpack_from(frame, 0)
        if xid == WATCH_XID:
            if self.on_event is not None:
                etype, _state = INT_INT.unpack_from(frame, REPLY.size)
                path, _end = read_string(frame, REPLY.size + INT_INT.size)
                self.on_event(etype, path)
        elif xid > 0:
            submitted = self._replies.pop(xid, None)
            if submitted is None:
                self._answers[xid] = (err, frame[REPLY.size :], self.counter())
                return
            decode, reply = submitted
            try:
                value = decode(err, frame[REPLY.size :])
            except Exception as exc:  # the request's own error (NoNode, say) belongs to its caller
                reply.set_exception(exc)
            else:
                reply.set(value)
        # else a ping's answer

    def _keep(self) -> None:
        """Read and ping while the owner does not (a daemon thread, one per session)."""
        while not self._closing.wait(0.1):
            if time.monotonic() - self._last_read < self.KEEPER_IDLE or self.lost.is_set():
                continue
            if not self._lock.acquire(blocking=False):
                continue  # the owner is reading or sending right now
            try:
                for _turn in range(100):  # drain, but let the owner in again soon
                    if self.lost.is_set() or not self._read(0.0):
                        break
            except WireError:
                pass  # lost is set: the owner reconnects
            finally:
                self._lock.release()


def pump_any(sessions: Sequence[LoopSession | None], timeout: float) -> None:
    """Wait up to ``timeout`` until one of the connected ``sessions`` has something to read,
    then read every session that has (errors mark a session lost, they are not raised)."""
    # each descriptor read once: the keeper may drop a broken socket at any moment
    live = [(s, fd) for s in sessions if s is not None for fd in (s.fileno(),) if fd >= 0]
    if not live:
        time.sleep(max(0.0, timeout))
        return
    buffered = {id(s) for s, _fd in live if s.buffered()}
    ready: set[int] = set()
    if not buffered:
        poller = select.poll()
        for _s, fd in live:
            poller.register(fd, select.POLLIN)
        try:
            ready = {fd for fd, _ev in poller.poll(max(0.0, timeout) * 1000.0)}
        except OSError:  # a descriptor closed meanwhile: read whatever each session has
            ready = {fd for _s, fd in live}
    for s, fd in live:
        if id(s) in buffered or fd in ready:
            try:
                s.pump(0.0)
            except WireError:
                pass  # lost is set: the owner reconnects
