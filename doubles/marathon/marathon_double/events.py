"""The event bus and ``/v2/events`` of the Marathon PROTOCOL DOUBLE.

Upstream: mesosphere/marathon core/event/Events.scala (event classes, ``eventType`` names and
fields: api_post_event, status_update_event, health_status_changed_event, deployment_info,
deployment_step_success, deployment_success, deployment_failed, group_change_success,
event_stream_attached/detached, app_terminated_event ...), docs/docs/event-bus.md,
core/event/impl/stream/HttpEventStreamServlet.scala and HttpEventStreamHandleActor.scala
(``event_type`` filter; a slow consumer with more than ``--event_stream_max_outstanding_messages``
queued is dropped).
"""

from __future__ import annotations

import threading
from typing import Any

from .common import timestamp
from .web import Stream, sse_frame


class EventBus:
    def __init__(self, max_outstanding: int = 50) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Stream, set[str]]] = []
        self.max_outstanding = max_outstanding

    def publish(self, event_type: str, **fields: Any) -> dict:
        event = {**fields, "eventType": event_type, "timestamp": timestamp()}
        frame = sse_frame(event_type, event)
        with self._lock:
            subscribers = list(self._subscribers)
        for stream, wanted in subscribers:
            if not wanted or event_type in wanted:
                if stream._queue.qsize() > self.max_outstanding * 20:
                    stream.close()  # HttpEventStreamHandleActor.dropConnection
                stream.write(frame)
        return event

    def attach(self, remote: str, wanted: set[str]) -> Stream:
        stream = Stream()

        def detached() -> None:
            with self._lock:
                self._subscribers = [(s, w) for s, w in self._subscribers if s is not stream]
            self.publish("event_stream_detached", remoteAddress=remote)

        stream.on_close(detached)
        with self._lock:
            self._subscribers.append((stream, wanted))
        self.publish("event_stream_attached", remoteAddress=remote)
        threading.Thread(target=self._heartbeat, args=(stream,), daemon=True).start()
        return stream

    @staticmethod
    def _heartbeat(stream: Stream) -> None:
        # Jetty EventSourceServlet: a CRLF every heartBeatPeriod (10 s) keeps the stream alive.
        while not stream.closed.wait(10):
            stream.write(b"\r\n")

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._subscribers)
