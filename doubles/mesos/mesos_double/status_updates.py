"""The agent's task status update manager of the Mesos PROTOCOL DOUBLE.

Follows src/slave/task_status_update_manager.cpp and src/status_update_manager/: one stream per
task; updates queue in order and only the stream's first pending update is on the wire; it is
re-sent after STATUS_UPDATE_RETRY_INTERVAL_MIN (10 s), doubling up to ..._MAX (10 min), until the
framework's acknowledgement (relayed by the master) names its uuid; then the next one goes out.
Acknowledgements for another uuid are refused as upstream ("Unexpected ...", "Duplicate ...").
A stream ends with its acknowledged terminal update. Streams of checkpointing frameworks are
written to ``task.updates`` (src/slave/paths.cpp getTaskUpdatesPath) before they are sent and
replayed on recovery; upstream writes StatusUpdateRecord protobufs there, the double JSON lines
``{"type": "UPDATE", "update": ...}`` / ``{"type": "ACK", "uuid": ...}``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .channel import STATUS_UPDATE_RETRY_INTERVAL_MAX, STATUS_UPDATE_RETRY_INTERVAL_MIN
from .common import TERMINAL_TASK_STATES


class AckError(Exception):
    pass


@dataclass
class Stream:
    framework_id: str
    task_id: str
    path: str | None  # task.updates, when the framework checkpoints
    pending: deque = field(default_factory=deque)
    received: set = field(default_factory=set)  # uuids seen (duplicates are ignored)
    acknowledged: set = field(default_factory=set)
    terminated: bool = False
    due: float | None = None  # when the head goes (again) on the wire
    interval: float = STATUS_UPDATE_RETRY_INTERVAL_MIN

    def record(self, entry: dict) -> None:
        if self.path is None:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class StatusUpdateManager:
    def __init__(self, forward: Callable[[dict], None], log: Callable[[str], None]) -> None:
        self.forward = forward  # Slave::forward: sends one update to the master
        self.log = log
        self.streams: dict[tuple[str, str], Stream] = {}
        self.cond = threading.Condition()
        self.paused = True  # until the agent (re-)registers (TaskStatusUpdateManager::pause)
        threading.Thread(target=self._loop, name="status-updates", daemon=True).start()

    # ---- TaskStatusUpdateManagerProcess::update ------------------------------------------------
    def update(self, update: dict, path: str | None) -> None:
        status = update["status"]
        key = (update["framework_id"]["value"], status["task_id"]["value"])
        with self.cond:
            stream = self.streams.get(key)
            if stream is None:
                stream = self.streams[key] = Stream(key[0], key[1], path)
            uid = status["uuid"]
            if uid in stream.received:
                self.log(f"Ignoring duplicate status update {status['state']} for task {key[1]}")
                return
            if stream.terminated:
                self.log(f"Ignoring status update {status['state']} for terminated task {key[1]}")
                return
            stream.record({"type": "UPDATE", "update": update})
            stream.received.add(uid)
            stream.pending.append(update)
            if len(stream.pending) == 1:
                stream.due = time.monotonic()
                stream.interval = STATUS_UPDATE_RETRY_INTERVAL_MIN
            self.cond.notify_all()

    # ---- TaskStatusUpdateManagerProcess::acknowledgement ---------------------------------------
    def acknowledge(self, framework_id: str, task_id: str, uid: str) -> bool:
        """True when the stream goes on; False when it ended (terminal update acknowledged)."""
        with self.cond:
            stream = self.streams.get((framework_id, task_id))
            if stream is None:
                raise AckError(f"Cannot find the task status update stream for task {task_id}")
            if uid in stream.acknowledged:
                raise AckError("Duplicate task status acknowledgement")
            if not stream.pending or stream.pending[0]["status"]["uuid"] != uid:
                raise AckError(f"Unexpected task status update acknowledgment (UUID: {uid}) for task {task_id}")
            stream.record({"type": "ACK", "uuid": uid})
            stream.acknowledged.add(uid)
            head = stream.pending.popleft()
            if head["status"]["state"] in TERMINAL_TASK_STATES:
                stream.terminated = True
            stream.due = None
            if stream.terminated:
                if stream.pending:
                    self.log(f"Acknowledged a terminal update for task {task_id} but updates are still pending")
                del self.streams[(framework_id, task_id)]
                return False
            if stream.pending:
                stream.due = time.monotonic()
                stream.interval = STATUS_UPDATE_RETRY_INTERVAL_MIN
                self.cond.notify_all()
            return True

    def pending(self, framework_id: str, task_id: str) -> list[dict]:
        with self.cond:
            stream = self.streams.get((framework_id, task_id))
            return list(stream.pending) if stream else []

    def has_streams(self, framework_id: str) -> bool:
        with self.cond:
            return any(k[0] == framework_id for k in self.streams)

    def cleanup(self, framework_id: str) -> None:
        # TaskStatusUpdateManager::cleanup: a removed framework's streams go away.
        with self.cond:
            for key in [k for k in self.streams if k[0] == framework_id]:
                del self.streams[key]

    def pause(self) -> None:
        with self.cond:
            self.paused = True

    def resume(self) -> None:
        # TaskStatusUpdateManager::resume: after (re-)registration every head goes out at once.
        with self.cond:
            self.paused = False
            now = time.monotonic()
            for stream in self.streams.values():
                if stream.pending:
                    stream.due = now
                    stream.interval = STATUS_UPDATE_RETRY_INTERVAL_MIN
            self.cond.notify_all()

    # ---- recovery (TaskStatusUpdateManagerProcess::recover / replay) ---------------------------
    def recover(self, framework_id: str, task_id: str, path: str) -> list[dict]:
        """Replay ``task.updates``; the updates seen (acknowledged or not), in order."""
        stream = Stream(framework_id, task_id, path)
        seen: list[dict] = []
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return seen
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last record (agent killed while writing)
            if entry.get("type") == "UPDATE":
                update = entry["update"]
                stream.received.add(update["status"]["uuid"])
                stream.pending.append(update)
                seen.append(update)
            elif entry.get("type") == "ACK" and stream.pending:
                stream.acknowledged.add(entry["uuid"])
                head = stream.pending.popleft()
                if head["status"]["state"] in TERMINAL_TASK_STATES:
                    stream.terminated = True
        if not stream.terminated:
            with self.cond:
                self.streams[(framework_id, task_id)] = stream
        return seen

    # ---- the retry timer (TaskStatusUpdateManagerProcess::timeout) -----------------------------
    def _loop(self) -> None:
        while True:
            with self.cond:
                now = time.monotonic()
                due = [] if self.paused else [s for s in self.streams.values() if s.pending and s.due is not None]
                ready = [s for s in due if s.due is not None and s.due <= now]
                for stream in ready:
                    # Next retry after the current interval, then double it (capped).
                    stream.due = now + stream.interval
                    stream.interval = min(stream.interval * 2, STATUS_UPDATE_RETRY_INTERVAL_MAX)
                heads = [s.pending[0] for s in ready]
                if not heads:
                    waits = [s.due - now for s in due if s.due is not None]
                    self.cond.wait(min(waits) if waits else None)
                    continue
            for update in heads:
                try:
                    self.forward(update)
                except Exception as exc:
                    self.log(f"Failed to forward status update: {exc}")
