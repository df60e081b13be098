#!/usr/bin/env python
"""Generate the README's table of roles, modules and playbooks from the code itself.

    tools/readme_tables.py          check: exit 1 when README.md is out of date
    tools/readme_tables.py --write  rewrite the table in README.md

The table sits between the BEGIN/END markers below; everything else in the README is prose.
Modules are described by their DOCUMENTATION short_description, roles by the
short_description of their `main` argument spec, playbooks by their first comment line,
and module aliases come from meta/runtime.yml plugin routing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- BEGIN GENERATED: tools/readme_tables.py -->"
END = "<!-- END GENERATED: tools/readme_tables.py -->"
FQCN = "orchestrator.platform"


def _module_doc(path: Path) -> dict[str, Any]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            try:
                return yaml.safe_load(value) or {}
            except yaml.YAMLError as exc:
                raise SystemExit(f"{path}: DOCUMENTATION is not valid YAML: {exc}") from exc
    return {}


def _aliases(root: Path) -> dict[str, list[str]]:
    runtime = yaml.safe_load((root / "meta" / "runtime.yml").read_text()) or {}
    routing = ((runtime.get("plugin_routing") or {}).get("modules")) or {}
    aliases: dict[str, list[str]] = {}
    for alias, route in routing.items():
        target = str((route or {}).get("redirect", ""))
        if target.startswith(FQCN + "."):
            aliases.setdefault(target.rsplit(".", 1)[1], []).append(alias)
    return aliases


def render(root: Path) -> str:
    rows = ["| kind | name | what it does |", "|---|---|---|"]
    aliases = _aliases(root)
    for path in sorted((root / "roles").glob("*/meta/argument_specs.yml")):
        spec = (yaml.safe_load(path.read_text()) or {}).get("argument_specs", {}).get("main", {})
        role = path.parent.parent.name
        rows.append(f"| role | `{FQCN}.{role}` | {spec.get('short_description', '').strip()} |")
    for path in sorted((root / "plugins" / "modules").glob("*.py")):
        if path.name == "__init__.py":
            continue
        doc = _module_doc(path)
        name = f"`{FQCN}.{path.stem}`"
        extra = "".join(f" (also `{FQCN}.{alias}`)" for alias in sorted(aliases.get(path.stem, [])))
        rows.append(f"| module | {name}{extra} | {str(doc.get('short_description', '')).strip()} |")
    for path in sorted((root / "playbooks").glob("*.yml")):
        first = next((ln for ln in path.read_text().splitlines() if ln.startswith("# ")), "# ")
        rows.append(f"| playbook | `{FQCN}.{path.stem}` | {first[2:].strip()} |")
    return "\n".join([BEGIN, *rows, END])


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    readme = root / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
        return 1
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    wanted = head + render(root) + tail
    if "--write" in argv:
        readme.write_text(wanted)
        print("README.md table written")
        return 0
    if wanted != text:
        print("README.md's table of roles, modules and playbooks is out of date: run tools/readme_tables.py --write")
        return 1
    print("README.md table matches the code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
