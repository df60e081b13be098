"""The import closure of the collection's module_utils, for the roles that copy module_utils.

A role that copies module_utils onto hosts without ansible-core (the exporters, zk_sync) lists
the files it copies; that list must be the import closure of its entry modules, computed from
the files' own import statements (every ``import`` at any depth, so that a function-level
import counts too), and no file of it may import ``ansible``. The tests keep their own
assertions (so that pytest shows both sides); this module computes what they compare, says
which files are missing or extra, copies the listed files as the role does, and gives the
Python prelude that makes ``ansible`` unimportable in a process started to run the copy.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "ansible_collections.orchestrator.platform.plugins.module_utils"
MODULE_UTILS = Path(__file__).resolve().parents[2] / "plugins" / "module_utils"


def imports(path: Path) -> list[str]:
    """Every module name ``path`` imports (``from P import m`` also yields ``P.m``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def closure(entries: Iterable[str], module_utils: Path = MODULE_UTILS) -> dict[str, list[str]]:
    """``{file: [module names it imports]}`` for the ``entries`` (file names in
    ``module_utils``) and every collection module_utils file they reach."""
    seen: dict[str, list[str]] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = imports(module_utils / name)
        for imported in seen[name]:
            if imported.startswith(PACKAGE + "."):
                candidate = imported[len(PACKAGE) + 1 :].split(".")[0] + ".py"
                if (module_utils / candidate).is_file():
                    todo.append(candidate)
    return seen


def listing_difference(listed: Iterable[str], needed: Iterable[str]) -> str:
    """What a role's list lacks and what it has too much of, compared with the closure."""
    listed_set, needed_set = set(listed), set(needed)
    return (
        f"missing from the role's list: {sorted(needed_set - listed_set)}; "
        f"listed but not in the import closure: {sorted(listed_set - needed_set)}"
    )


def ansible_imports(files: dict[str, list[str]]) -> dict[str, list[str]]:
    """``{file: [ansible modules it imports]}`` for the files of ``files`` (a :func:`closure`)
    that import ``ansible`` or one of its modules."""
    offenders = {
        name: [m for m in imported if m == "ansible" or m.startswith("ansible.")] for name, imported in files.items()
    }
    return {name: found for name, found in offenders.items() if found}


def copy_listed(names: Iterable[str], lib: Path, module_utils: Path = MODULE_UTILS) -> Path:
    """Copy the module_utils ``names`` under ``lib`` as the package path the roles copy them
    to (``lib`` then goes first on ``sys.path``); returns the package directory."""
    dest = lib / PACKAGE.replace(".", "/")
    dest.mkdir(parents=True)
    for name in names:
        shutil.copy(module_utils / name, dest / name)
    return dest


def block_ansible(reason: str) -> str:
    """Python source that makes importing ``ansible`` (or ``ansible.*``) fail with ``reason``
    followed by the module's name; put it first in the script that runs the copied files."""
    prefix = repr(reason + ": ")
    return f"""
import importlib.abc, sys
class NoAnsible(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ansible" or name.startswith("ansible."):
            raise ImportError({prefix} + name)
sys.meta_path.insert(0, NoAnsible())
"""
