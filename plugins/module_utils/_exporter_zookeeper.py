# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's ZooKeeper exporter (private): ``mntr`` and ``ruok`` of the local member.

Metric names, labels and values follow dabealu/zookeeper-exporter (main.go), so Grafana
dashboard 11442 and the alert sets written for it work: ``zk_up``, ``zk_server_leader``,
``zk_version{version}``, ``zk_peer_state{state}``, ``zk_ruok`` and every numeric ``mntr`` line
under its own name, each with ``zk_host``. Upstream writes no ``# TYPE`` lines: all are
``untyped`` here too. One deviation (docs/monitoring/metrics.md): a member that answers "not
currently serving requests" has ``zk_server_leader 0`` (upstream says 1, which turns a lost
quorum into "more than one leader"), and ``orchestrator_zk_serving`` tells it apart.

``mntr`` is asked and parsed by ``_zk`` (one parser in the collection). ``mntr`` and ``ruok``
reset nothing, so parallel exporters and probes are safe.
"""

from __future__ import annotations

import re

from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import (
    BAD_RESPONSE,
    CONNECT,
    NOT_WHITELISTED,
    TIMEOUT,
    ConfigError,
    Exporter,
    PollError,
    PollResult,
    Target,
    row,
    run,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk import (
    ZkError,
    format_hostport,
    four_letter_word,
    parse_mntr,
    split_hosts,
)

DEFAULT_PORT = 9141
UNTYPED = "untyped"
HELP = "ZooKeeper mntr value (dabealu/zookeeper-exporter compatible)."
_VERSION = re.compile(r"^([0-9]+\.[0-9]+\.[0-9]+).*$")
_VALID_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# dabealu's metricNameReplacer
_NAME_TRANSLATION = str.maketrans({"-": "_", ".": "_", ",": "_"})
_FLAGS = ("serving", "whitelisted")


def _ask(host: str, port: int, word: str, timeout: float) -> str:
    try:
        return four_letter_word(host, port, word, timeout)
    except TimeoutError as exc:
        raise PollError(TIMEOUT, f"{word}: no answer from {format_hostport(host, port)} within {timeout}s") from exc
    except OSError as exc:
        raise PollError(CONNECT, f"{word}: cannot reach {format_hostport(host, port)}: {exc}") from exc


class ZkMemberTarget(Target):
    """One ZooKeeper member, asked ``mntr`` and ``ruok`` over its client port."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.host = host
        self.port = port
        self.timeout = float(timeout)
        self.name = format_hostport(host, port)
        self.labels = {"zk_host": self.name}

    def _untyped(self, name: str, value: float, **extra: str) -> object:
        return row(name, UNTYPED, HELP, {**self.labels, **extra}, value)

    def failure_rows(self, error: PollError) -> list:
        return [self._untyped("zk_up", 0)]

    def poll(self) -> PollResult:
        text = _ask(self.host, self.port, "mntr", self.timeout)
        parsed = parse_mntr(text)
        if not parsed["whitelisted"]:
            raise PollError(NOT_WHITELISTED, f"mntr is not in 4lw.commands.whitelist of {self.name}")
        rows = [self._untyped("zk_up", 1)]
        if not parsed["serving"]:
            if "not currently serving" not in text:
                raise PollError(BAD_RESPONSE, f"mntr of {self.name} answered {text[:200]!r}")
            rows += [
                self._untyped("zk_server_leader", 0),
                row(
                    "orchestrator_zk_serving",
                    "gauge",
                    "1 if the member serves clients (is in a quorum).",
                    self.labels,
                    0,
                ),
            ]
        else:
            rows.append(
                row(
                    "orchestrator_zk_serving",
                    "gauge",
                    "1 if the member serves clients (is in a quorum).",
                    self.labels,
                    1,
                )
            )
            for key, value in parsed.items():
                if key in _FLAGS:
                    continue
                if key == "zk_server_state":
                    rows.append(self._untyped("zk_server_leader", 1 if value == "leader" else 0))
                elif key == "zk_version":
                    rows.append(self._untyped("zk_version", 1, version=_VERSION.sub(r"\1", str(value))))
                elif key == "zk_peer_state":
                    rows.append(self._untyped("zk_peer_state", 1, state=str(value)))
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    name = key.translate(_NAME_TRANSLATION)
                    if _VALID_NAME.match(name):
                        rows.append(self._untyped(name, value))
        soft = []
        try:
            ruok = _ask(self.host, self.port, "ruok", self.timeout)
        except PollError as exc:
            soft.append(exc.reason)
            ruok = ""
        rows.append(self._untyped("zk_ruok", 1 if ruok == "imok" else 0))
        return PollResult(rows, soft)


def build(config: dict) -> Exporter:
    """The exporter of the settings file: ``targets`` (``host:port`` list or connect string),
    ``port``, ``listen_address``, ``interval``, ``timeout``."""
    raw = config.get("targets")
    targets = ",".join(str(t) for t in raw) if isinstance(raw, list) else raw
    if not isinstance(targets, str):
        raise ConfigError(f"targets: a list of host:port strings is expected, not {raw!r}")
    try:
        pairs = split_hosts(targets)
    except ZkError as exc:
        raise ConfigError(f"targets: {exc}") from exc
    timeout = float(config.get("timeout", 5))
    return Exporter(
        "zookeeper",
        [ZkMemberTarget(host, port, timeout) for host, port in pairs],
        interval=float(config.get("interval", 15)),
        listen_address=str(config.get("listen_address", "0.0.0.0")),  # noqa: S104
        port=int(config.get("port", DEFAULT_PORT)),
    )


def main(argv: list) -> int:
    """Service entry: ``CONFIG.json``."""
    return run(build, argv)
