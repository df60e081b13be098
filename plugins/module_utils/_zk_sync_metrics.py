# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's counters, lag samples and Prometheus endpoint (private).

prometheus-client is optional: without it the counters and the lag summary still work, and
only :meth:`Metrics.serve` refuses.
"""

from __future__ import annotations

import collections
import math
import traceback

from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError

PROMETHEUS_IMPORT_ERROR = None
try:
    import prometheus_client

    HAS_PROMETHEUS = True
except ImportError:
    HAS_PROMETHEUS = False
    PROMETHEUS_IMPORT_ERROR = traceback.format_exc()

STATES = ("idle", "connecting", "copying", "mirroring", "resyncing", "draining", "verifying", "stopped")


class Metrics:
    """Counters the engine keeps in any case, exported with prometheus-client when asked."""

    def __init__(self) -> None:
        self.events_applied = 0
        self.repairs = 0
        self.errors = 0
        self.nodes_synced = 0
        self.state = "idle"
        self.lag_samples: collections.deque[float] = collections.deque(maxlen=200_000)
        self._prom: dict = {}
        self._server: object = None

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        if not HAS_PROMETHEUS:
            raise ZkSyncError("metrics_port: the prometheus-client Python library is not installed")
        reg = prometheus_client.CollectorRegistry()
        self._prom = {
            "lag": prometheus_client.Histogram(
                "zk_sync_lag_seconds",
                "Heartbeat lag: source write to target write, seconds",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=reg,
            ),
            "last_lag": prometheus_client.Gauge("zk_sync_last_lag_seconds", "Latest heartbeat lag", registry=reg),
            "events": prometheus_client.Counter("zk_sync_events_applied", "Source changes applied", registry=reg),
            "repairs": prometheus_client.Counter(
                "zk_sync_repairs", "Differences found and repaired outside the watch path", registry=reg
            ),
            "errors": prometheus_client.Counter("zk_sync_errors", "Errors (retried or repaired)", registry=reg),
            "nodes": prometheus_client.Gauge("zk_sync_nodes_synced", "Source nodes of the last copy", registry=reg),
            "state": prometheus_client.Enum("zk_sync_state", "Engine state", states=list(STATES), registry=reg),
        }
        self._prom["state"].state(self.state)
        try:
            self._server = prometheus_client.start_http_server(port, addr=address, registry=reg)
        except OSError as exc:  # the bind: EADDRINUSE, EACCES (a port below 1024), a bad address
            raise ZkSyncError(f"metrics_port: cannot listen on {address}:{port}: {exc}") from exc

    def close(self) -> None:
        server = self._server
        self._server = None
        if server is not None and isinstance(server, tuple):
            server[0].shutdown()
            server[0].server_close()

    def set_state(self, state: str) -> None:
        self.state = state
        if self._prom:
            self._prom["state"].state(state)

    def add(self, name: str, count: int = 1) -> None:
        setattr(self, name, getattr(self, name) + count)
        key = {"events_applied": "events", "repairs": "repairs", "errors": "errors"}.get(name)
        if key and self._prom and count:
            self._prom[key].inc(count)

    def set_nodes(self, count: int) -> None:
        self.nodes_synced = count
        if self._prom:
            self._prom["nodes"].set(count)

    def lag(self, seconds: float) -> None:
        self.lag_samples.append(seconds)
        if self._prom:
            self._prom["lag"].observe(seconds)
            self._prom["last_lag"].set(seconds)

    def lag_summary(self) -> dict:
        samples = sorted(self.lag_samples)
        if not samples:
            return {"samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

        def pct(q: float) -> float:
            return round(samples[min(len(samples) - 1, math.ceil(q * len(samples)) - 1)] * 1000, 2)

        return {
            "samples": len(samples),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": round(samples[-1] * 1000, 2),
        }
