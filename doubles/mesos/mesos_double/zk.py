"""ZooKeeper of the Mesos PROTOCOL DOUBLE: URLs, groups and leader detection.

Follows src/zookeeper/url.cpp (zk:// URLs with credentials), src/zookeeper/group.cpp (ephemeral
sequential members, session loss) and src/master/detector/zookeeper.cpp (lowest json.info_ wins).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .common import _SEQ_RE, die, log


@dataclass
class ZkUrl:
    """src/zookeeper/url.hpp URL::parse."""

    servers: str
    path: str
    credentials: str | None

    @staticmethod
    def parse(url: str) -> ZkUrl:
        s = url.strip()
        if not s.startswith("zk://"):
            raise ValueError("Expecting 'zk://' at the beginning of the URL")
        s = s[5:]
        path = ""
        while "/" in s:
            index = s.rfind("/")
            path = s[index:] + path
            s = s[:index]
        if path == "":
            path = "/"
        if "@" in s:
            index = s.rfind("@")
            return ZkUrl(s[index + 1 :], path, s[:index])
        return ZkUrl(s, path, None)


def zk_url_for_contender(value: str) -> ZkUrl:
    """src/master/contender/contender.cpp and detector.cpp: zk:// or file:// only."""
    if value.startswith("zk://"):
        url = ZkUrl.parse(value)
        if url.path == "/":
            raise ValueError("Expecting a (chroot) path for ZooKeeper ('/' is not supported)")
        return url
    if value.startswith("file://"):
        path = value[7:]
        try:
            with open(path, encoding="utf-8") as fh:
                return zk_url_for_contender(fh.read().strip())
        except OSError:
            raise ValueError(f"Failed to read from file at '{path}'") from None
    raise ValueError(f"Failed to parse '{value}'")


def make_zk_client(url: ZkUrl, session_timeout: float) -> Any:
    try:
        from kazoo.client import KazooClient  # noqa: PLC0415 - only personalities that need ZooKeeper
        from kazoo.retry import KazooRetry  # noqa: PLC0415
    except ImportError:
        die("The Mesos protocol double needs kazoo for ZooKeeper URLs (Debian: apt-get install python3-kazoo)")

    auth = [("digest", url.credentials)] if url.credentials else None
    return KazooClient(
        hosts=url.servers,
        timeout=max(session_timeout, 1.0),
        auth_data=auth,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )


def zk_acl(url: ZkUrl) -> Any:
    # src/zookeeper/group.cpp: with credentials the group's znodes are EVERYONE_READ_CREATOR_ALL,
    # otherwise OPEN_ACL_UNSAFE.
    from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl  # noqa: PLC0415

    if not url.credentials:
        return OPEN_ACL_UNSAFE
    user, _unused, password = url.credentials.partition(":")
    return [make_acl("world", "anyone", read=True), make_digest_acl(user, password, all=True)]


class ZkGroup:
    """A membership in a ZooKeeper group, as src/zookeeper/group.cpp keeps it.

    Membership is lost when the session expires, or when the client stays disconnected for
    longer than the session timeout (group.cpp forces a local expiration then).
    """

    def __init__(self, url: ZkUrl, session_timeout: float, on_lost: Callable[[], None]) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self.on_lost = on_lost
        self.client = make_zk_client(url, session_timeout)
        self.acl = zk_acl(url)
        self._suspended_at: float | None = None
        self._lock = threading.Lock()
        self._expiring = False  # we are closing the session ourselves: its LOST is expected
        self._stopped = False
        self.client.add_listener(self._listener)
        self._timer = threading.Thread(target=self._watch_disconnection, daemon=True)

    def _connect(self) -> None:
        while True:
            try:
                self.client.start(timeout=max(self.session_timeout, 5.0))
                return
            except Exception as exc:
                log(f"Failed to connect to ZooKeeper {self.url.servers}: {exc}; retrying", "W")
                time.sleep(0.5)

    def start(self) -> None:
        self._connect()
        self._timer.start()

    def ensure_started(self) -> None:
        """After a forced expiration, open a new session (group.cpp creates a new ZooKeeper)."""
        if self._stopped:
            self._connect()
            self._stopped = False

    def _listener(self, state: str) -> None:
        with self._lock:
            if state == "SUSPENDED":
                self._suspended_at = time.monotonic()
            elif state == "CONNECTED":
                self._suspended_at = None
            elif state == "LOST":
                self._suspended_at = None
                if not self._expiring:
                    threading.Thread(target=self.on_lost, daemon=True).start()

    def _watch_disconnection(self) -> None:
        while True:
            time.sleep(0.1)
            with self._lock:
                since = self._suspended_at
                if since is None or time.monotonic() - since < self.session_timeout:
                    continue
                self._suspended_at = None
            log(
                f"Timed out waiting to reconnect to ZooKeeper (sessionTimeout={self.session_timeout}s): "
                "forcing ZooKeeper session expiration",
                "W",
            )
            # Abandon the session, so that no ephemeral node of it can come back with it.
            self._expiring = True
            try:
                self.client.stop()
            except Exception as exc:
                log(f"Failed to close the ZooKeeper session: {exc!r}", "W")
            finally:
                self._expiring = False
            self._stopped = True
            threading.Thread(target=self.on_lost, daemon=True).start()

    def ensure_path(self, path: str) -> None:
        self.client.ensure_path(path, acl=self.acl)

    def join(self, path: str, label: str | None, data: bytes) -> str:
        self.ensure_path(path)
        prefix = f"{path.rstrip('/')}/{label + '_' if label else ''}"
        return str(self.client.create(prefix, data, acl=self.acl, ephemeral=True, sequence=True))


class DetectionPending(Exception):
    """A member's MasterInfo could not be read for want of a connection. Upstream's Group queues
    such a read until the session is back (src/zookeeper/group.cpp: retryable errors), so the
    detector reports no change meanwhile; a session that expires ends the membership instead."""


def leader_from_children(client: Any, path: str, children: Sequence[str]) -> tuple[str | None, dict | None]:
    """The lowest-sequence 'json.info_' member (src/zookeeper/detector.cpp LeaderDetector).

    Raises DetectionPending when a read fails for any reason but the member being gone."""
    from kazoo.exceptions import NoNodeError  # noqa: PLC0415 - kazoo only where ZooKeeper is used

    members = sorted((m.group(1), c) for c in children if (m := _SEQ_RE.match(c)))
    for _unused, child in members:
        try:
            data, _unused = client.get(f"{path.rstrip('/')}/{child}")
        except NoNodeError:  # the member vanished between list and get: try the next one
            log(f"Failed to read '{child}': it is gone", "W")
            continue
        except Exception as exc:
            log(f"Failed to read '{child}': {exc!r}; detecting again once the session is back", "W")
            raise DetectionPending(repr(exc)) from exc
        try:
            return child, json.loads(data.decode("utf-8"))
        except ValueError:
            log(f"Failed to parse MasterInfo JSON of '{child}'", "W")
            return child, None
    return None, None


def detect_leader(client: Any, path: str, children: Sequence[str], apply: Callable[[dict | None], None]) -> None:
    """Hand the leading member's MasterInfo (or None) to ``apply``. A read that is pending on the
    connection is tried again, with the children read afresh, once the client is connected: no
    change is reported meanwhile (DetectionPending)."""
    try:
        _unused, info = leader_from_children(client, path, children)
    except DetectionPending:
        threading.Thread(target=_detect_when_connected, args=(client, path, apply), daemon=True).start()
        return
    apply(info)


def _detect_when_connected(client: Any, path: str, apply: Callable[[dict | None], None]) -> None:
    from kazoo.exceptions import NoNodeError  # noqa: PLC0415 - kazoo only where ZooKeeper is used

    while True:
        if getattr(client, "connected", False):
            try:
                children = client.get_children(path)
            except NoNodeError:
                children = []
            except Exception:  # still not connected: wait on
                time.sleep(0.2)
                continue
            try:
                _unused, info = leader_from_children(client, path, children)
            except DetectionPending:
                time.sleep(0.2)
                continue
            apply(info)
            return
        if getattr(client, "client_state", None) == "CLOSED":
            return  # the client was stopped: nothing to detect any more
        time.sleep(0.2)
