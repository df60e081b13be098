"""The zk_sync role's service gets exactly the code it runs, and that code needs no ansible-core.

roles/zk_sync/vars/main.yml lists the collection's module_utils the role copies next to the
service's entry point (``_zk_sync_module_utils``); the service's virtualenv has kazoo and
prometheus-client only (roles/zk_sync/defaults/main.yml). Both hold only while that list is the
import closure of ``_zk_sync_service.py``, computed here from the files' own import statements
(every ``import``, at any depth, so that a function-level import counts too), and while no file
of the closure imports ``ansible``. The last test runs the copy as the host would: the listed
files alone, ``ansible`` not importable.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
MODULE_UTILS = REPO / "plugins" / "module_utils"
PACKAGE = "ansible_collections.orchestrator.platform.plugins.module_utils"
ENTRY = "_zk_sync_service.py"


def _imports(path: Path) -> list[str]:
    """Every module name ``path`` imports (``from P import m`` also yields ``P.m``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _closure(entry: str) -> dict[str, list[str]]:
    """``{file: [module names it imports]}`` for ``entry`` and every collection module_utils
    file it reaches."""
    seen: dict[str, list[str]] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = _imports(MODULE_UTILS / name)
        for imported in seen[name]:
            if imported.startswith(PACKAGE + "."):
                candidate = imported[len(PACKAGE) + 1 :].split(".")[0] + ".py"
                if (MODULE_UTILS / candidate).is_file():
                    todo.append(candidate)
    return seen


def _role_list() -> list[str]:
    return yaml.safe_load((REPO / "roles/zk_sync/vars/main.yml").read_text())["_zk_sync_module_utils"]


def test_the_role_copies_the_service_import_closure():
    assert sorted(_role_list()) == sorted(_closure(ENTRY))


def test_the_service_import_closure_imports_nothing_of_ansible():
    offenders = {
        name: [m for m in imported if m == "ansible" or m.startswith("ansible.")]
        for name, imported in _closure(ENTRY).items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_service_virtualenv_installs_no_ansible_core():
    defaults = yaml.safe_load((REPO / "roles/zk_sync/defaults/main.yml").read_text())
    assert not [p for p in defaults["zk_sync_python_packages"] if p.lower().startswith(("ansible", "ansible-core"))]


def test_the_copied_files_alone_start_the_service_without_ansible(tmp_path):
    lib = tmp_path / "lib"
    dest = lib / PACKAGE.replace(".", "/")
    dest.mkdir(parents=True)
    for name in _role_list():
        shutil.copy(MODULE_UTILS / name, dest / name)
    entry = (REPO / "roles/zk_sync/templates/zk-sync-mirror.py.j2").read_text()
    entry_import = next(line for line in entry.splitlines() if line.startswith("from ansible_collections."))
    script = f"""
import importlib.abc, sys
class NoAnsible(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ansible" or name.startswith("ansible."):
            raise ImportError("ansible-core is not installed in the service's virtualenv: " + name)
sys.meta_path.insert(0, NoAnsible())
sys.path.insert(0, {str(lib)!r})
{entry_import}
outside = [m.__file__ for n, m in sys.modules.items()
           if n.startswith("ansible_collections.orchestrator") and getattr(m, "__file__", None)
           and not m.__file__.startswith({str(lib)!r})]
assert not outside, outside
print(service_main.__module__)
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == PACKAGE + "._zk_sync_service"
