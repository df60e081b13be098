"""The collection's Grafana dashboards (roles/grafana/files/dashboards/*.json) as data: every
panel with its row, every query with where it comes from, and Grafana's variables replaced by
plain values. Shared by the dashboards' unit test (every query parses for promtool, every name is
exported) and the lab's monitoring check (every query returns series from the real Prometheus).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "roles" / "grafana" / "files" / "dashboards"
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")

# Grafana's own interval variables -> a duration; any other $var / ${var} / ${var:format} /
# [[var]] -> a plain value (as a single selected value would be).
GRAFANA_INTERVALS = re.compile(
    r"\$(?:__rate_interval|__interval|__range)\b|\$\{(?:__rate_interval|__interval|__range)\}"
)
GRAFANA_VARIABLE = re.compile(
    r"\$\{[a-zA-Z_][a-zA-Z0-9_]*(?::[^}]*)?\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[a-zA-Z_][a-zA-Z0-9_]*\]\]"
)


def substitute(expr: str, value: str = "value") -> str:
    """``expr`` with Grafana's interval variables as 1m and every other variable as ``value``
    (``.*`` selects what "All" would, where the dashboards match with ``=~``)."""
    return GRAFANA_VARIABLE.sub(value, GRAFANA_INTERVALS.sub("1m", expr))


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


def all_panels(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every panel with the row it belongs to (a collapsed row holds its panels itself)."""
    row = None
    for panel in board["panels"]:
        if panel.get("type") == "row":
            row = panel
            yield panel, None
            for inner in panel.get("panels", []):
                yield inner, panel
        else:
            yield panel, row


def queries() -> list[tuple[str, str, str]]:
    """(where, expression, kind) for every target and every query variable of every dashboard."""
    out = []
    for name, board in dashboards().items():
        for panel, _row in all_panels(board):
            for target in panel.get("targets", []):
                out.append(
                    (
                        f"{name} panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}",
                        target["expr"],
                        "expr",
                    )
                )
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                match = LABEL_VALUES.match(query)
                assert match, (
                    f"{name} variable {var['name']}: only label_values(<selector>, <label>) is used: {query!r}"
                )
                out.append((f"{name} variable {var['name']!r}", match.group("selector"), "variable"))
    return out
