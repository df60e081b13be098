#!/usr/bin/env python
"""Fail when a role's meta/argument_specs.yml and defaults/main.yml drift apart.

For every role under roles/ and every entry point of its argument specs:
- every variable in defaults/main.yml is documented as an option of the `main` entry point;
- every option that is not required has a default in defaults/main.yml (public settings
  live in defaults, private derived ones in vars/ with a leading underscore);
- an option's `default:`, when the spec gives one, equals the value in defaults/main.yml;
- the value in defaults/main.yml has the option's declared type;
- every option has a type and a real description.

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "raw": (object,),
}
LAZY_DESCRIPTIONS = ("see readme", "see the readme", "todo", "tbd")


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _type_ok(value: Any, spec_type: str) -> bool:
    if _is_template(value) or value is None:
        return True  # resolved at run time; ansible validates the rendered value
    if spec_type == "int" and isinstance(value, bool):
        return False
    return isinstance(value, TYPE_CHECKS.get(spec_type, (object,)))


def _description_text(option: dict[str, Any]) -> str:
    description = option.get("description", "")
    if isinstance(description, list):
        description = " ".join(str(part) for part in description)
    return str(description).strip()


def check_option(where: str, option: Any, is_main: bool, option_name: str, defaults: dict[str, Any]) -> list[str]:
    if not isinstance(option, dict):
        return [f"{where}: must be a mapping"]
    problems: list[str] = []
    spec_type = option.get("type")
    if spec_type is None:
        problems.append(f"{where}: has no type")
    text = _description_text(option)
    if len(text) < 10 or text.lower().rstrip(".") in LAZY_DESCRIPTIONS:
        problems.append(f"{where}: needs a real description")
    if not is_main:
        return problems
    if option.get("required"):
        if option_name in defaults:
            problems.append(f"{where}: required options must not have a value in defaults/main.yml")
        return problems
    if option_name not in defaults:
        return [*problems, f"{where}: not required, so defaults/main.yml must set it"]
    value = defaults[option_name]
    if "default" in option and option["default"] != value:
        problems.append(f"{where}: default {option['default']!r} differs from defaults/main.yml value {value!r}")
    if spec_type and not _type_ok(value, spec_type):
        problems.append(f"{where}: defaults/main.yml value {value!r} is not of type {spec_type}")
    return problems


def check_role(role_dir: Path) -> list[str]:
    problems: list[str] = []
    name = role_dir.name
    spec_file = role_dir / "meta" / "argument_specs.yml"
    defaults_file = role_dir / "defaults" / "main.yml"
    if not spec_file.is_file():
        return [f"{name}: missing meta/argument_specs.yml"]
    specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
    defaults: dict[str, Any] = {}
    if defaults_file.is_file():
        defaults = yaml.safe_load(defaults_file.read_text()) or {}
    if "main" not in specs:
        problems.append(f"{name}: argument_specs has no 'main' entry point")
        return problems
    main_options: dict[str, Any] = specs["main"].get("options") or {}

    for var in defaults:
        if var not in main_options:
            problems.append(f"{name}: defaults/main.yml sets '{var}' but argument_specs.main does not document it")

    for entry_point, entry in specs.items():
        for option_name, option in (entry.get("options") or {}).items():
            where = f"{name}: argument_specs.{entry_point}.options.{option_name}"
            problems.extend(check_option(where, option, entry_point == "main", option_name, defaults))
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    roles = sorted(p for p in (root / "roles").iterdir() if p.is_dir()) if (root / "roles").is_dir() else []
    problems: list[str] = []
    for role in roles:
        problems.extend(check_role(role))
    for problem in problems:
        print(problem)
    print(f"argument specs: {len(roles)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
