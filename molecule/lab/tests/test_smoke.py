"""The operator's first look at a converged lab: smoke.yml, through the collection's info modules."""

from __future__ import annotations

from scenario_helpers import REPO_ROOT, run_playbook

SMOKE_PLAYBOOK = REPO_ROOT / "molecule" / "lab" / "smoke.yml"


def test_smoke_playbook_sees_quorum_one_mesos_leader_active_agents_and_docker():
    run = run_playbook(SMOKE_PLAYBOOK)
    assert run.returncode == 0, run.stdout[-4000:]
    # Every play ran on its hosts (a group missing from the inventory would skip silently).
    for task in ("Every member serves and one leads", "One leader, seen the same way", "The engine answered"):
        assert f"TASK [{task}" in run.stdout, task
