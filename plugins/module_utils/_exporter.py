# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared part of the collection's own exporters (private): cache, poller, HTTP, self-metrics.

An exporter is a list of :class:`Target` objects. One background thread polls every target
once per ``interval`` (each poll bounded by the target's own timeout) and swaps the target's
rows into a cache; the HTTP handler only serialises that cache, so a scrape never waits for
ZooKeeper or Mesos. A poll that fails replaces the target's rows by its failure rows (e.g.
``zk_up 0``): stale values are never served as current. The exporter's own health is exported
with the prefix ``orchestrator_exporter_`` (docs/monitoring/metrics.md).

Threads are bounded: the poller, the HTTP accept loop and a fixed pool of request workers.
Runs on the hosts with the Debian ``python3-prometheus-client`` (0.16) and imports nothing of
ansible (tests/unit/roles/test_exporters_role.py checks the import closure).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, NamedTuple

# Optional for ansible-test's import check of module_utils; the exporters' hosts have it.
PROMETHEUS_IMPORT_ERROR = None
try:
    import prometheus_client.core
    import prometheus_client.exposition

    HAS_PROMETHEUS = True
except ImportError:
    HAS_PROMETHEUS = False
    PROMETHEUS_IMPORT_ERROR = traceback.format_exc()

LOG = logging.getLogger("orchestrator.exporter")

SELF_PREFIX = "orchestrator_exporter_"
# Reasons of orchestrator_exporter_poll_errors_total.
CONNECT = "connect"
TIMEOUT = "timeout"
NOT_WHITELISTED = "not_whitelisted"
HTTP_STATUS = "http_status"
BAD_RESPONSE = "bad_response"
INTERNAL = "internal"
HTTP_WORKERS = 4
REQUEST_TIMEOUT = 10.0


class Row(NamedTuple):
    """One sample: its family (name, type, help), the sample's own name, labels and value.

    ``kind`` is ``gauge``, ``counter`` (``family`` without ``_total``, ``sample`` with it) or
    ``untyped`` (upstream counters whose names do not end in ``_total``: the client library
    would rename them).
    """

    family: str
    kind: str
    help: str
    sample: str
    labels: dict
    value: float


def row(name: str, kind: str, help_text: str, labels: dict, value: float) -> Row:
    """A :class:`Row` for metric ``name`` as it appears in the exposition."""
    if kind == "counter":
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total (use untyped for upstream names)")
        return Row(name[: -len("_total")], kind, help_text, name, labels, float(value))
    return Row(name, kind, help_text, name, labels, float(value))


class _Rows:
    """A prometheus-client collector of fixed rows, grouped into families by name."""

    def __init__(self, rows: list):
        self.rows = rows

    def collect(self) -> list:
        families: dict = {}
        for r in self.rows:
            family = families.get(r.family)
            if family is None:
                family = families[r.family] = prometheus_client.core.Metric(r.family, r.help, r.kind)
            family.add_sample(r.sample, {k: str(v) for k, v in r.labels.items()}, r.value)
        return list(families.values())


def render_rows(rows: list) -> bytes:
    """The text exposition of ``rows`` (prometheus-client's own serialiser)."""
    registry = prometheus_client.core.CollectorRegistry(auto_describe=False)
    registry.register(_Rows(rows))
    return prometheus_client.exposition.generate_latest(registry)


class PollError(Exception):
    """A failed poll, with the reason label of ``orchestrator_exporter_poll_errors_total``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class PollResult(NamedTuple):
    """Rows of a successful poll and the reasons of partial failures (counted, not fatal)."""

    rows: list
    soft_errors: list


class Target:
    """Something polled: subclasses implement :meth:`poll` and may give failure rows."""

    name = "target"

    def poll(self) -> PollResult:
        raise NotImplementedError

    def failure_rows(self, error: PollError) -> list:
        """Rows served while the last poll failed (upstream's ``zk_up 0`` and the like)."""
        return []


class _State:
    def __init__(self, started: float):
        self.rows: list = []
        self.success = 0.0
        self.duration = 0.0
        self.polls = 0
        self.errors: dict[str, int] = {}
        self.last_success: float | None = None
        self.started = started
        self.last_error: str | None = None


class Exporter:
    """Poller, cache and HTTP endpoint of one exporter (``zookeeper`` or ``mesos``)."""

    def __init__(
        self,
        name: str,
        targets: list,
        *,
        interval: float = 15.0,
        listen_address: str = "0.0.0.0",  # noqa: S104 - an exporter serves the network by design
        port: int = 0,
        compat_error_counter: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not HAS_PROMETHEUS:
            raise ConfigError(
                "the Python library prometheus-client is missing (Debian: python3-prometheus-client)\n"
                f"{PROMETHEUS_IMPORT_ERROR}"
            )
        if not targets:
            raise ValueError(f"{name} exporter: no targets configured")
        self.name = name
        self.targets = list(targets)
        self.interval = float(interval)
        self.listen_address = listen_address
        self.requested_port = int(port)
        self.compat_error_counter = compat_error_counter
        self._clock = clock
        now = clock()
        self._states = {t.name: _State(now) for t in self.targets}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._server: HTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._rendered = b""

    # ---- polling ---------------------------------------------------------------------------------
    def poll_once(self) -> None:
        """Poll every target once and swap the results into the cache."""
        for target in self.targets:
            start = self._clock()
            soft: list = []
            error: PollError | None = None
            try:
                result = target.poll()
                rows, soft = list(result.rows), list(result.soft_errors)
            except PollError as exc:
                error = exc
            except Exception as exc:
                LOG.exception("%s exporter: polling %s failed unexpectedly", self.name, target.name)
                error = PollError(INTERNAL, f"{type(exc).__name__}: {exc}")
            if error is not None:
                try:
                    rows = list(target.failure_rows(error))
                except Exception:
                    rows = []
            duration = self._clock() - start
            with self._lock:
                state = self._states[target.name]
                state.polls += 1
                state.duration = duration
                for reason in soft + ([error.reason] if error else []):
                    state.errors[reason] = state.errors.get(reason, 0) + 1
                state.rows = rows
                if error is None:
                    if state.success == 0.0 and state.polls > 1:
                        LOG.warning("%s exporter: %s answers again", self.name, target.name)
                    state.success = 1.0
                    state.last_success = self._clock()
                    state.last_error = None
                else:
                    if state.last_error is None:
                        LOG.warning(
                            "%s exporter: polling %s failed (%s): %s", self.name, target.name, error.reason, error
                        )
                    state.success = 0.0
                    state.last_error = str(error)
        # Serialised once per round, so that a scrape only copies bytes.
        with self._lock:
            rows = [r for state in self._states.values() for r in state.rows]
        rendered = render_rows(rows)
        with self._lock:
            self._rendered = rendered

    def _poll_loop(self, first_wait: float) -> None:
        if self._stop.wait(first_wait):
            return
        while not self._stop.is_set():
            started = self._clock()
            try:
                self.poll_once()
            except Exception:
                LOG.exception("%s exporter: poll round failed", self.name)
            self._stop.wait(max(0.0, self.interval - (self._clock() - started)))

    # ---- exposition ------------------------------------------------------------------------------
    def _self_rows(self) -> list:
        now = self._clock()
        rows = [
            row(
                SELF_PREFIX + "poll_interval_seconds",
                "gauge",
                "Configured poll interval of the exporter.",
                {"exporter": self.name},
                self.interval,
            )
        ]
        total_errors = 0
        for target_name, state in self._states.items():
            labels = {"exporter": self.name, "target": target_name}
            since = state.last_success if state.last_success is not None else state.started
            rows += [
                row(
                    SELF_PREFIX + "last_poll_success",
                    "gauge",
                    "1 if the last poll of the target succeeded.",
                    labels,
                    state.success,
                ),
                row(
                    SELF_PREFIX + "poll_duration_seconds",
                    "gauge",
                    "Duration of the last poll of the target.",
                    labels,
                    state.duration,
                ),
                row(SELF_PREFIX + "polls_total", "counter", "Polls of the target.", labels, state.polls),
                row(
                    SELF_PREFIX + "data_age_seconds",
                    "gauge",
                    "Seconds since the last successful poll of the target (since start while none succeeded).",
                    labels,
                    max(0.0, now - since),
                ),
            ]
            for reason, count in sorted(state.errors.items()):
                total_errors += count
                rows.append(
                    row(
                        SELF_PREFIX + "poll_errors_total",
                        "counter",
                        "Failed polls (or failed parts of a poll) by reason.",
                        {**labels, "reason": reason},
                        count,
                    )
                )
        if self.compat_error_counter:
            rows.append(
                row(
                    self.compat_error_counter, "counter", "Total number of internal collector errors.", {}, total_errors
                )
            )
        return rows

    def render(self) -> bytes:
        """The exposition text: the targets' rows as rendered after the last poll round, then
        the exporter's own metrics (their ages change between polls)."""
        with self._lock:
            cached = self._rendered
            own = self._self_rows()
        return cached + render_rows(own)

    # ---- HTTP ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not serving")
        return int(self._server.server_address[1])

    def start(self, poll_first: bool = True) -> None:
        """Bind the port (fails at once when taken), poll once, then serve and poll in the background."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, status, ctype = exporter.render(), 200, prometheus_client.exposition.CONTENT_TYPE_LATEST
                elif path == "/":
                    body, status, ctype = (
                        b'<html><body><a href="/metrics">/metrics</a></body></html>\n',
                        200,
                        "text/html",
                    )
                else:
                    body, status, ctype = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                LOG.debug("%s " + format, self.address_string(), *args)

        class PooledServer(HTTPServer):
            """Requests handled by a fixed pool of threads; waiting clients queue."""

            # A full accept backlog makes clients retry their SYN after 1 s.
            request_queue_size = 128

            def process_request(self, request, client_address):
                pool = exporter._pool
                if pool is None:  # stopped: the socket goes with the server
                    self.shutdown_request(request)
                    return
                pool.submit(self._handle, request, client_address)

            def _handle(self, request, client_address):
                try:
                    self.finish_request(request, client_address)
                except Exception:
                    self.handle_error(request, client_address)
                finally:
                    self.shutdown_request(request)

            def handle_error(self, request, client_address):
                LOG.debug("%s exporter: request from %s failed", exporter.name, client_address, exc_info=True)

        self._pool = ThreadPoolExecutor(max_workers=HTTP_WORKERS, thread_name_prefix=f"{self.name}-http")
        self._server = PooledServer((self.listen_address, self.requested_port), Handler)
        if poll_first:
            self.poll_once()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-serve", daemon=True
        )
        self._server_thread.start()
        self._poller = threading.Thread(
            target=self._poll_loop, args=(self.interval if poll_first else 0.0,), name=f"{self.name}-poll", daemon=True
        )
        self._poller.start()
        LOG.info(
            "%s exporter: serving /metrics on %s:%s, polling every %ss",
            self.name,
            self.listen_address,
            self.port,
            self.interval,
        )

    def stop(self) -> None:
        """Stop polling and serving; returns when the threads ended."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for thread in (self._poller, self._server_thread):
            if thread is not None:
                thread.join(timeout=30)

    def wait(self) -> None:
        """Block until :meth:`stop` (or SIGTERM/SIGINT under :func:`run`)."""
        while not self._stop.wait(1.0):
            pass


# ---- service entry ---------------------------------------------------------------------------------
class ConfigError(Exception):
    """Bad settings: the service exits 2 and systemd does not retry."""


def load_config(path: str) -> dict:
    """The JSON settings file the role writes."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the settings {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a JSON object is expected")
    interval = config.get("interval", 15)
    timeout = config.get("timeout", 5)
    for key, value in (("interval", interval), ("timeout", timeout)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{path}: {key} must be a positive number of seconds, not {value!r}")
    if timeout >= interval:
        raise ConfigError(f"{path}: timeout ({timeout}) must be shorter than interval ({interval})")
    port = config.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConfigError(f"{path}: port must be a TCP port number, not {port!r}")
    return config


def run(build: Callable[[dict], Exporter], argv: list) -> int:
    """``<entry> CONFIG.json [--check]``: build the exporter from the settings and serve until
    SIGTERM; with ``--check`` only validate the settings (the role's ``validate:``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 1:
        LOG.error("usage: orchestrator-exporter {zookeeper|mesos} CONFIG.json [--check]")
        return 2
    try:
        exporter = build(load_config(args[0]))
    except (ConfigError, ValueError, TypeError) as exc:
        LOG.error("%s", exc)
        return 2
    if check:
        return 0
    try:
        exporter.start()
    except OSError as exc:
        LOG.error(
            "%s exporter: cannot listen on %s:%s: %s",
            exporter.name,
            exporter.listen_address,
            exporter.requested_port,
            exc,
        )
        return 2

    def _terminate(signum: int, frame: object) -> None:
        exporter._stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    exporter.wait()
    exporter.stop()
    return 0
