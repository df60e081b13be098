#!/usr/bin/env python
"""Fail when a role's meta/argument_specs.yml and what the role really reads drift apart.

For every role under roles/ and every entry point of its argument specs:
- every variable in defaults/main.yml is documented as an option of the `main` entry point;
- every option that is not required has a default in defaults/main.yml (public settings
  live in defaults, private derived ones in vars/ with a leading underscore);
- an option's `default:`, when the spec gives one, equals the value in defaults/main.yml;
- the value in defaults/main.yml has the option's declared type;
- every option has a type and a real description;
- the entry point has a task file (tasks/<entry point>, as Ansible looks it up);
- the entry point documents every option it reads: the role's public variables (defaults and
  `main` options) and the private `_<role>_*` inputs nothing in the role sets (a caller passes
  them), read by its task file, the task files it imports or includes, the templates it
  renders, the handlers it notifies and the vars/main.yml and defaults values those refer to;
- an entry point other than `main` documents ONLY what it reads, and an option it shares with
  `main` has the same type, elements, default, choices, required and no_log there.

And for every `include_role`/`import_role` with `tasks_from` of a role of this collection in
roles/, playbooks/, molecule/ and tests/: the role has an entry point named EXACTLY as the
`tasks_from` value. Ansible looks the entry point up by that string (`tasks_from: install.yml`
is validated against entry point `install.yml`, not `install`); without one, the call runs
unvalidated and its options are nowhere documented.

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

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
COLLECTION = "orchestrator.platform"
CALLER_DIRS = ("roles", "playbooks", "molecule", "tests")
ROLE_INCLUDES = frozenset(
    f"{prefix}{action}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for action in ("include_role", "import_role")
)
TASK_INCLUDES = frozenset(
    f"{prefix}{action}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for action in ("include_tasks", "import_tasks")
)
SET_FACT = frozenset(("set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact"))
# Keys whose string values are bare Jinja expressions (no {{ }}).
BARE_KEYS = frozenset(("when", "that", "until", "changed_when", "failed_when"))
# Compared between `main` and another entry point declaring the same option.
SHARED_KEYS = ("type", "elements", "default", "choices", "required", "no_log")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE_FILE = re.compile(r"[A-Za-z0-9_./-]+\.j2")
JINJA = Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])  # noqa: S701 (parsed, never rendered)
SHARED_KEYS_HELP = ", ".join(SHARED_KEYS)


class _AnsibleLoader(yaml.SafeLoader):
    """safe_load that accepts Ansible's tags (!unsafe, !vault) as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_AnsibleLoader.add_multi_constructor("!", _any_tag)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_AnsibleLoader)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError):
        return None


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


def _jinja_names(text: str, bare: bool) -> set[str]:
    """Variables a template (or a bare expression) refers to.

    Names, attributes (hostvars[h].zookeeper_address) and string constants that look like names
    (selectattr('_x', 'defined'), a filter given a variable's name) all count.
    """
    if not bare and "{{" not in text and "{%" not in text:
        return set()
    source = "{{ " + text + " }}" if bare else text
    try:
        with warnings.catch_warnings():
            # Regular expressions in string literals ('\\.slice$'): Jinja warns, Ansible reads them as meant.
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = JINJA.parse(source)
    except TemplateSyntaxError:
        return set(IDENTIFIER.findall(text))
    found: set[str] = set()
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Const)):
        if isinstance(node, nodes.Name) and node.ctx == "load":
            found.add(node.name)
        elif isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and IDENTIFIER.fullmatch(node.value):
            found.add(node.value)
    return found


def _strings(data: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) for every string under data; key is the nearest mapping key."""
    if isinstance(data, str):
        yield key, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, str(k))
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item, key)


def _tasks(data: Any) -> Iterator[dict[str, Any]]:
    """Every task mapping in a task file, blocks included (a block is walked into, not yielded)."""
    if isinstance(data, list):
        for item in data:
            yield from _tasks(item)
    elif isinstance(data, dict):
        nested = [data[k] for k in ("block", "rescue", "always") if isinstance(data.get(k), list)]
        if nested:
            yield data
            for tasks in nested:
                yield from _tasks(tasks)
        else:
            yield data


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Reads:
    """What a set of task files reads and sets."""

    names: set[str] = field(default_factory=set)
    local: set[str] = field(default_factory=set)  # task vars and loop variables
    persistent: set[str] = field(default_factory=set)  # register and set_fact: host variables
    notified: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)


def _read_tasks(tasks: Any, reads: Reads) -> list[str]:
    """Add what these tasks read and set to reads; return the task files they import or include."""
    files: list[str] = []
    for task in _tasks(tasks):
        for key, text in _strings({k: v for k, v in task.items() if k not in ("block", "rescue", "always")}):
            reads.names |= _jinja_names(text, key in BARE_KEYS)
            reads.templates.update(TEMPLATE_FILE.findall(text))
        reads.local.update(str(k) for k in (task.get("vars") or {}))
        loop_var = (task.get("loop_control") or {}).get("loop_var")
        if isinstance(loop_var, str):
            reads.local.add(loop_var)
        reads.persistent.update(str(r) for r in _as_list(task.get("register")))
        for action in SET_FACT & task.keys():
            if isinstance(task[action], dict):
                reads.persistent.update(str(k) for k in task[action] if k != "cacheable")
        reads.notified.update(str(n) for n in _as_list(task.get("notify")))
        for action in TASK_INCLUDES & task.keys():
            target = task[action]
            target = target.get("file") if isinstance(target, dict) else target
            if isinstance(target, str) and "{{" not in target:
                files.append(target)
    return files


def _resolve_task_file(tasks_dir: Path, name: str) -> Path | None:
    for candidate in (name, f"{name}.yml", f"{name}.yaml"):
        if (tasks_dir / candidate).is_file():
            return tasks_dir / candidate
    return None


@dataclass
class Role:
    path: Path
    specs: dict[str, Any]
    defaults: dict[str, Any]
    vars: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def public(self) -> set[str]:
        return set(self.defaults) | set((self.specs.get("main") or {}).get("options") or {})

    def persistent_names(self) -> set[str]:
        """Everything the role's task files and handlers register or set_fact (host variables)."""
        reads = Reads()
        for path in sorted((self.path / "tasks").glob("*.y*ml")) + sorted((self.path / "handlers").glob("*.y*ml")):
            _read_tasks(_load_yaml(path), reads)
        return reads.persistent

    def entry_point_reads(self, task_file: Path) -> Reads:
        """What the entry point whose task file this is reads, through everything it runs."""
        reads = Reads()
        pending, seen = [task_file], set()
        while pending:
            path = pending.pop()
            if path in seen:
                continue
            seen.add(path)
            for name in _read_tasks(_load_yaml(path), reads):
                resolved = _resolve_task_file(path.parent, name) or _resolve_task_file(self.path / "tasks", name)
                if resolved:
                    pending.append(resolved)
        self._read_handlers(reads)
        for template in reads.templates:
            path = self.path / "templates" / template
            if path.is_file():
                reads.names |= _jinja_names(path.read_text(), bare=False)
        reads.names = self._expand(reads.names)
        return reads

    def _read_handlers(self, reads: Reads) -> None:
        """Add the handlers the tasks notify (by name or listen), and those they notify in turn."""
        handlers = list(_tasks(_load_yaml(self.path / "handlers" / "main.yml") or []))
        done: set[int] = set()
        while todo := [
            i
            for i, h in enumerate(handlers)
            if i not in done and ({h.get("name")} | set(_as_list(h.get("listen")))) & reads.notified
        ]:
            for i in todo:
                done.add(i)
                _read_tasks([handlers[i]], reads)

    def _expand(self, names: set[str]) -> set[str]:
        """Names, plus what the role's vars/main.yml and defaults values they name refer to."""
        pending, expanded = list(names), set()
        while pending:
            name = pending.pop()
            if name in expanded:
                continue
            expanded.add(name)
            for source in (self.vars, self.defaults):
                if name in source:
                    for _key, text in _strings(source[name]):
                        pending.extend(_jinja_names(text, bare=False))
        return expanded


def load_role(role_dir: Path) -> Role | None:
    spec_file = role_dir / "meta" / "argument_specs.yml"
    if not spec_file.is_file():
        return None
    specs = (_load_yaml(spec_file) or {}).get("argument_specs") or {}
    return Role(
        path=role_dir,
        specs=specs,
        defaults=_load_yaml(role_dir / "defaults" / "main.yml") or {},
        vars=_load_yaml(role_dir / "vars" / "main.yml") or {},
    )


def check_entry_point_reads(role: Role, entry_point: str, persistent: set[str]) -> list[str]:
    """The entry point documents what it reads, and (but `main`) only that."""
    task_file = _resolve_task_file(role.path / "tasks", entry_point)
    if task_file is None:
        return [f"{role.name}: argument_specs.{entry_point} has no task file tasks/{entry_point}(.yml)"]
    reads = role.entry_point_reads(task_file)
    prefix = f"_{role.name}_"
    inputs = {
        n
        for n in reads.names
        if n.startswith(prefix) and n not in role.vars and n not in persistent and n not in reads.local
    }
    needed = (reads.names & role.public) | inputs
    options: dict[str, Any] = role.specs[entry_point].get("options") or {}
    problems = [
        f"{role.name}: tasks/{task_file.name} (entry point {entry_point}) reads '{name}' but "
        f"argument_specs.{entry_point} does not declare it"
        for name in sorted(needed - set(options))
    ]
    if entry_point == "main":
        return problems
    problems.extend(
        f"{role.name}: argument_specs.{entry_point} declares '{name}', which tasks/{task_file.name} never reads"
        for name in sorted(set(options) - needed)
    )
    main_options: dict[str, Any] = role.specs["main"].get("options") or {}
    for name in sorted(set(options) & set(main_options)):
        ours, main = options[name], main_options[name]
        if not isinstance(ours, dict) or not isinstance(main, dict):
            continue
        differing = [k for k in SHARED_KEYS if ours.get(k) != main.get(k)]
        if differing:
            problems.append(
                f"{role.name}: argument_specs.{entry_point}.options.{name} differs from argument_specs.main "
                f"in {', '.join(differing)} (same variable: same {SHARED_KEYS_HELP})"
            )
    return problems


def check_role(role_dir: Path) -> list[str]:
    problems: list[str] = []
    name = role_dir.name
    role = load_role(role_dir)
    if role is None:
        return [f"{name}: missing meta/argument_specs.yml"]
    specs, defaults = role.specs, role.defaults
    if "main" not in specs:
        problems.append(f"{name}: argument_specs has no 'main' entry point")
        return problems
    main_options: dict[str, Any] = specs["main"].get("options") or {}

    for var in defaults:
        if var not in main_options:
            problems.append(f"{name}: defaults/main.yml sets '{var}' but argument_specs.main does not document it")

    persistent = role.persistent_names()
    for entry_point, entry in specs.items():
        for option_name, option in (entry.get("options") or {}).items():
            where = f"{name}: argument_specs.{entry_point}.options.{option_name}"
            problems.extend(check_option(where, option, entry_point == "main", option_name, defaults))
        problems.extend(check_entry_point_reads(role, entry_point, persistent))
    return problems


def _role_includes(data: Any) -> Iterator[dict[str, Any]]:
    """The arguments of every include_role/import_role anywhere under data."""
    if isinstance(data, dict):
        for action in ROLE_INCLUDES & data.keys():
            if isinstance(data[action], dict):
                yield data[action]
        for value in data.values():
            yield from _role_includes(value)
    elif isinstance(data, list):
        for item in data:
            yield from _role_includes(item)


def check_tasks_from(root: Path, roles: dict[str, Role]) -> list[str]:
    """Every tasks_from target of one of our roles is an entry point of its argument specs."""
    problems: list[str] = []
    for top in CALLER_DIRS:
        for path in sorted((root / top).rglob("*.y*ml")) if (root / top).is_dir() else []:
            if ".venv" in path.parts:
                continue
            for args in _role_includes(_load_yaml(path)):
                role_name, tasks_from = args.get("name", args.get("role")), args.get("tasks_from")
                if not isinstance(role_name, str) or not isinstance(tasks_from, str) or "{{" in role_name + tasks_from:
                    continue
                short = role_name.removeprefix(f"{COLLECTION}.")
                if "." in short or short not in roles:
                    continue  # another collection's role
                entry_points = roles[short].specs
                if tasks_from not in entry_points:
                    problems.append(
                        f"{path.relative_to(root)}: include of {COLLECTION}.{short} with tasks_from: {tasks_from} "
                        f"has no entry point '{tasks_from}' in roles/{short}/meta/argument_specs.yml (Ansible looks "
                        f"it up by the exact tasks_from value; declared: {', '.join(entry_points)})"
                    )
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    role_dirs = sorted(p for p in (root / "roles").iterdir() if p.is_dir()) if (root / "roles").is_dir() else []
    problems: list[str] = []
    for role_dir in role_dirs:
        problems.extend(check_role(role_dir))
    loaded = {r.name: r for r in (load_role(d) for d in role_dirs) if r is not None}
    problems.extend(check_tasks_from(root, loaded))
    for problem in problems:
        print(problem)
    entry_points = sum(len(r.specs) for r in loaded.values())
    print(f"argument specs: {len(role_dirs)} roles, {entry_points} entry points checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
