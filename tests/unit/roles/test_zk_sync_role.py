"""The zk_sync role's service gets exactly the code it runs, and that code needs no ansible-core.

roles/zk_sync/vars/main.yml lists the collection's module_utils the role copies next to the
service's entry point (``_zk_sync_module_utils``); the service's virtualenv has kazoo and
prometheus-client only (roles/zk_sync/defaults/main.yml). Both hold only while that list is the
import closure of ``_zk_sync_service.py``, computed by tests/support/import_closure.py from the
files' own import statements (every ``import``, at any depth, so that a function-level import
counts too), and while no file of the closure imports ``ansible``. The last test runs the copy
as the host would: the listed files alone, ``ansible`` not importable.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from ansible_collections.orchestrator.platform.tests.support.import_closure import (
    PACKAGE,
    ansible_imports,
    block_ansible,
    closure,
    copy_listed,
    listing_difference,
)

REPO = Path(__file__).resolve().parents[3]
ENTRY = "_zk_sync_service.py"


def _role_list() -> list[str]:
    return yaml.safe_load((REPO / "roles/zk_sync/vars/main.yml").read_text())["_zk_sync_module_utils"]


def test_the_role_copies_the_service_import_closure():
    listed, needed = _role_list(), closure([ENTRY])
    assert sorted(listed) == sorted(needed), listing_difference(listed, needed)


def test_the_service_import_closure_imports_nothing_of_ansible():
    assert ansible_imports(closure([ENTRY])) == {}


def test_the_service_virtualenv_installs_no_ansible_core():
    defaults = yaml.safe_load((REPO / "roles/zk_sync/defaults/main.yml").read_text())
    assert not [p for p in defaults["zk_sync_python_packages"] if p.lower().startswith(("ansible", "ansible-core"))]


def test_the_copied_files_alone_start_the_service_without_ansible(tmp_path):
    lib = tmp_path / "lib"
    copy_listed(_role_list(), lib)
    entry = (REPO / "roles/zk_sync/templates/zk-sync-mirror.py.j2").read_text()
    entry_import = next(line for line in entry.splitlines() if line.startswith("from ansible_collections."))
    no_ansible = block_ansible("ansible-core is not installed in the service's virtualenv")
    script = f"""{no_ansible}sys.path.insert(0, {str(lib)!r})
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
