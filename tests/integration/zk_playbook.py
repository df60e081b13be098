"""Kept for test files written against it: the helpers live in tests/support/ansible_run.py.

New tests import ``run_playbook`` (and ``ansible_bin``) from
``ansible_collections.orchestrator.platform.tests.support.ansible_run``.
"""

from __future__ import annotations

from ansible_collections.orchestrator.platform.tests.support.ansible_run import INTEGRATION_PLAYBOOKS as PLAYBOOKS
from ansible_collections.orchestrator.platform.tests.support.ansible_run import ansible_bin as ansible_playbook
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook

__all__ = ["PLAYBOOKS", "ansible_playbook", "run_playbook"]
