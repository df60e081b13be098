"""A small client of the Mesos v1 scheduler HTTP API, as Marathon 1.10 uses the scheduler API.

Upstream: apache/mesos docs/scheduler-http-api.md (SUBSCRIBE keeps a RecordIO stream
``<length>\\n<json>`` open and answers ``Mesos-Stream-Id``; every later call is a POST carrying
it; 202 Accepted), docs/high-availability-framework-guide.md (re-subscribe with the stored
FrameworkID), src/master/detector (``json.info_<seq>``: the lowest sequence is the leading
master). Marathon side: mesosphere/marathon MarathonSchedulerDriver.scala (FrameworkInfo: name,
user, failover_timeout, checkpoint, role, hostname, webui_url, capabilities
PARTITION_AWARE/TASK_KILLING_STATE/GPU_RESOURCES/REGION_AWARE, principal). Marathon 1.10 uses
libmesos's driver; the double speaks the HTTP API directly (see doubles/README.md).
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Callable
from typing import Any

from .common import log
from .flags import parse_zk


def detect_master(master: str, zk_timeout: float) -> str | None:
    """host:port of the leading Mesos master named by ``--master`` (zk:// or host:port[,...])."""
    if master.startswith("zk://"):
        from kazoo.client import KazooClient  # noqa: PLC0415 - kazoo only when --master is zk://

        hosts, path, creds = parse_zk(master)
        kwargs: dict[str, Any] = {}
        if creds:
            kwargs["auth_data"] = [("digest", f"{creds[0]}:{creds[1]}")]
        client = KazooClient(hosts=hosts, timeout=zk_timeout, **kwargs)
        try:
            client.start(timeout=zk_timeout)
            infos = sorted(c for c in client.get_children(path) if c.startswith("json.info_"))
            if not infos:
                return None
            info = json.loads(client.get(f"{path}/{infos[0]}")[0])
            address = info.get("address") or {}
            return f"{address.get('ip') or info.get('hostname')}:{info.get('port')}"
        except Exception as exc:
            log(f"Mesos master detection failed: {exc!r}", "WARN")
            return None
        finally:
            client.stop()
            client.close()
    return master.split(",", maxsplit=1)[0].removeprefix("http://")


def basic(credentials: tuple[str, bytes] | None) -> dict[str, str]:
    if not credentials:
        return {}
    token = base64.b64encode(credentials[0].encode() + b":" + credentials[1]).decode()
    return {"Authorization": f"Basic {token}"}


class Subscription:
    """One SUBSCRIBE stream; events go to ``on_event``; ``on_end`` when the stream ends."""

    def __init__(
        self,
        master: str,
        call: dict,
        on_event: Callable[[dict], None],
        on_end: Callable[[str], None],
        credentials: tuple[str, bytes] | None = None,
    ) -> None:
        self.master = master
        host, _sep, port = master.rpartition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        body = json.dumps(call).encode()
        self.conn.request(
            "POST",
            "/api/v1/scheduler",
            body=body,
            headers={"Content-Type": "application/json", "Accept": "application/json", **basic(credentials)},
        )
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            text = self.resp.read().decode(errors="replace")
            self.conn.close()
            raise ConnectionError(f"SUBSCRIBE answered {self.resp.status}: {text}")
        self.stream_id = self.resp.getheader("Mesos-Stream-Id") or ""
        self.on_event = on_event
        self.on_end = on_end
        self.closed = False

    def start(self) -> None:
        """Start reading events (after the caller has stored this subscription: the first
        events' answers, DECLINE and RECONCILE, are sent through it)."""
        threading.Thread(target=self._read, daemon=True, name="mesos-events").start()

    def _read(self) -> None:
        why = "stream ended"
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    byte = self.resp.read(1)
                    if not byte:
                        raise EOFError
                    line += byte
                size = int(line.strip())
                data = b""
                while len(data) < size:
                    more = self.resp.read(size - len(data))
                    if not more:
                        raise EOFError
                    data += more
                self.on_event(json.loads(data))
        except (EOFError, OSError, ValueError) as exc:
            why = f"stream ended: {exc!r}"
        finally:
            self.closed = True
            self.on_end(why)

    def call(self, call: dict, credentials: tuple[str, bytes] | None = None) -> tuple[int, str]:
        host, _sep, port = self.master.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(
                "POST",
                "/api/v1/scheduler",
                body=json.dumps(call).encode(),
                headers={"Content-Type": "application/json", "Mesos-Stream-Id": self.stream_id, **basic(credentials)},
            )
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)
        finally:
            conn.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()
