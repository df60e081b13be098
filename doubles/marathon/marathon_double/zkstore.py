"""Leader election and persistent state of the Marathon PROTOCOL DOUBLE, in ZooKeeper.

Upstream: mesosphere/marathon core/election/CuratorElectionStream.scala (a Curator
``LeaderLatch`` on ``<zk path>/leader-curator`` whose participant id is ``host:port``; Curator
creates protected EPHEMERAL_SEQUENTIAL ``_c_<uuid>-latch-<seq>`` nodes, the lowest sequence
leads; ``<zk path>/leader`` has been unused since 1.5), ZookeeperConf.scala
(``zooKeeperLeaderCuratorUrl``), ElectionService.scala and core/base/CrashStrategy.scala (a
lost or suspended ZooKeeper connection ends the process: exit 101; abdication: 105), and
storage/store/impl/zk/ZkPersistenceStore.scala for the state under ``<zk path>/state``.
Upstream stores protobufs there; the double stores JSON (see doubles/README.md).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .common import EXIT_LEADERSHIP_LOSS, EXIT_ZK_CONNECTION_LOSS, crash, log
from .flags import parse_zk, redacted_zk


def _seq(name: str) -> int:
    # Curator LeaderLatch sorts children by the sequence after "latch-" (LockInternals.standardFixForSorting).
    return int(name.rsplit("-", 1)[-1])


class ZkStore:
    """One kazoo session: the leader latch and the state nodes."""

    def __init__(self, url: str, session_timeout_ms: int, host_port: str) -> None:
        from kazoo.client import KazooClient, KazooState  # noqa: PLC0415 - Debian's python3-kazoo
        from kazoo.security import make_digest_acl  # noqa: PLC0415

        hosts, self.path, creds = parse_zk(url)
        self.host_port = host_port
        self._states = KazooState
        kwargs: dict[str, Any] = {}
        self.acl = None
        if creds:
            kwargs["auth_data"] = [("digest", f"{creds[0]}:{creds[1]}")]
            self.acl = [make_digest_acl(creds[0], creds[1], all=True)]
        self.client = KazooClient(hosts=hosts, timeout=session_timeout_ms / 1000.0, **kwargs)
        self.latch_path = f"{self.path}/leader-curator"
        self.state_path = f"{self.path}/state"
        self.my_node: str | None = None
        self.leader_changed: Callable[[], None] = lambda: None
        self._connected_once = False
        self._lock = threading.Lock()
        self._leader: str | None = None
        self._is_leader = False
        log(f"Connecting to ZooKeeper {redacted_zk(url)}")
        self.client.add_listener(self._on_state)
        self.client.start(timeout=session_timeout_ms / 1000.0)
        self._connected_once = True

    def _on_state(self, state: Any) -> None:
        # CuratorElectionStream: a SUSPENDED or LOST connection fails the leadership stream and
        # Marathon exits (CrashStrategy.ZookeeperConnectionLoss), leader or not.
        if self._connected_once and state in (self._states.SUSPENDED, self._states.LOST):
            crash(EXIT_ZK_CONNECTION_LOSS, f"ZooKeeper connection {state}")

    # ---- leader latch -------------------------------------------------------------------
    def join(self) -> None:
        self.client.ensure_path(self.latch_path, acl=self.acl)
        node = self.client.create(
            f"{self.latch_path}/_c_{uuid.uuid4()}-latch-",
            self.host_port.encode(),
            acl=self.acl,
            ephemeral=True,
            sequence=True,
        )
        self.my_node = node.rsplit("/", 1)[-1]
        log(f"Joined the leader latch as {self.my_node} ({self.host_port})")
        self._watch()

    def _watch(self, _event: Any = None) -> None:
        try:
            children = self.client.get_children(self.latch_path, watch=self._watch)
        except Exception as exc:
            log(f"Reading the latch failed: {exc!r}", "WARN")
            return
        latches = sorted((c for c in children if "-latch-" in c), key=_seq)
        leader = None
        if latches:
            try:
                leader = self.client.get(f"{self.latch_path}/{latches[0]}")[0].decode() or None
            except Exception:
                leader = None
        with self._lock:
            was = self._is_leader
            self._leader = leader
            self._is_leader = bool(latches) and latches[0] == self.my_node
            now = self._is_leader
        if was and not now:
            crash(EXIT_LEADERSHIP_LOSS, "Lost leadership")
        if self.my_node and self.my_node not in children:
            crash(EXIT_LEADERSHIP_LOSS, "Leader latch node disappeared")
        self.leader_changed()

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @property
    def leader(self) -> str | None:
        return self._leader

    def abdicate(self) -> None:
        # LeaderLatch.close(): the participant node goes; the next one leads.
        if self.my_node:
            self.client.delete(f"{self.latch_path}/{self.my_node}")

    # ---- state ---------------------------------------------------------------------------
    def _node(self, kind: str, key: str = "") -> str:
        return f"{self.state_path}/{kind}" + (f"/{key.replace('/', '_')}" if key else "")

    def put(self, kind: str, key: str, value: Any) -> None:
        path = self._node(kind, key)
        data = json.dumps(value, sort_keys=True).encode()
        if self.client.exists(path):
            self.client.set(path, data)
        else:
            self.client.create(path, data, acl=self.acl, makepath=True)

    def get(self, kind: str, key: str) -> Any:
        path = self._node(kind, key)
        if not self.client.exists(path):
            return None
        data = self.client.get(path)[0]
        return json.loads(data) if data else None

    def delete(self, kind: str, key: str) -> None:
        # Upstream keeps a deleted app's node and empties its data.
        path = self._node(kind, key)
        if self.client.exists(path):
            self.client.set(path, b"")

    def remove(self, kind: str, key: str) -> None:
        path = self._node(kind, key)
        if self.client.exists(path):
            self.client.delete(path, recursive=True)

    def all(self, kind: str) -> list[Any]:
        path = self._node(kind)
        if not self.client.exists(path):
            return []
        out = []
        for child in sorted(self.client.get_children(path)):
            data = self.client.get(f"{path}/{child}")[0]
            if data:
                out.append(json.loads(data))
        return out

    def close(self) -> None:
        try:
            self.client.stop()
            self.client.close()
        except Exception as exc:
            log(f"Closing ZooKeeper failed: {exc!r}", "WARN")
