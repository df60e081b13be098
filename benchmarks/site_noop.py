"""How long `playbooks/site.yml` takes on the running lab when nothing is to change.

Operators run site.yml often, mostly with nothing to do; such a run is bound by per-task round
trips between the controller and the hosts. This script runs the same no-change site.yml
against the lab (`tools/lab up` first) under several Ansible settings, rounds interleaved so
that the machine's load falls on every setting alike, and prints each run's wall time, the
median per setting and its ratio to the first setting (the baseline: Ansible's defaults with
the lab's connection). Every run must end with changed=0 and failed=0 on every host, or the
script stops: a run that changed something measured something else.

    . tools/env
    python benchmarks/site_noop.py --rounds 3
    python benchmarks/site_noop.py --settings pipelining  # only one setting, no baseline
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INVENTORY = REPO_ROOT / "inventories" / "lab" / "hosts.yml"
PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"

# Each setting: environment given to ansible-playbook (on top of the shell's) and extra
# arguments. "linear" is Ansible's own strategy, as most operators run it; "mitogen" is what
# Molecule and tools/lab use (tools/ansible_plugins/strategy/mitogen_hosts.py: Mitogen's linear
# strategy on the containers). Measured and dropped (2026-12-07): ANSIBLE_PIPELINING changes
# nothing on ansible-core 2.19 with the docker connection (it pipelines either way: see -vvv),
# and the docker_api connection was no faster than the docker CLI (ratio 1.02).
SETTINGS: dict[str, tuple[dict[str, str], list[str]]] = {
    "linear": ({"ANSIBLE_STRATEGY": "linear"}, []),
    "mitogen": (
        {
            "ANSIBLE_STRATEGY": "mitogen_hosts",
            "ANSIBLE_STRATEGY_PLUGINS": str(REPO_ROOT / "tools" / "ansible_plugins" / "strategy"),
        },
        [],
    ),
}
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_once(name: str, forks: int) -> tuple[float, dict[str, tuple[int, int]]]:
    env_extra, args = SETTINGS[name]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_FORKS=str(forks), **env_extra)
    start = time.monotonic()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(PLAYBOOK), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    took = time.monotonic() - start
    # host -> (ok, changed + unreachable + failed)
    recap = {
        m.group(1): (int(m.group(2)), int(m.group(3)) + int(m.group(4)) + int(m.group(5)))
        for m in RECAP.finditer(run.stdout)
    }
    if run.returncode != 0 or not recap or any(bad for _ok, bad in recap.values()):
        tail = run.stdout[-3000:] + run.stderr[-2000:]
        sys.exit(f"{name}: the run failed or changed something (rc {run.returncode}):\n{tail}")
    return took, recap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="runs per setting (default 3)")
    parser.add_argument("--forks", type=int, default=10, help="ANSIBLE_FORKS (default 10, as the lab)")
    parser.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help=f"comma-separated, the first is the baseline (default {','.join(SETTINGS)})",
    )
    opts = parser.parse_args()
    names = opts.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        sys.exit(f"--settings: unknown {unknown}; known: {list(SETTINGS)}")
    load_before = os.getloadavg()[0]
    print(f"no-change site.yml on the lab, {opts.rounds} round(s), forks {opts.forks}, load {load_before:.1f}")
    times: dict[str, list[float]] = {n: [] for n in names}
    tasks = 0
    for round_no in range(1, opts.rounds + 1):
        for name in names:
            took, recap = run_once(name, opts.forks)
            tasks = sum(ok for ok, _bad in recap.values())
            times[name].append(took)
            print(f"round {round_no} {name:<16} {took:6.1f} s  ({len(recap)} hosts, {tasks} host-tasks ok, changed 0)")
    base = statistics.median(times[names[0]])
    print(f"\n{'setting':<16} {'median':>8} {'min':>7} {'max':>7}  ratio to {names[0]}")
    for name in names:
        med = statistics.median(times[name])
        print(f"{name:<16} {med:7.1f}s {min(times[name]):6.1f}s {max(times[name]):6.1f}s  {med / base:5.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f} (before {load_before:.1f})")


if __name__ == "__main__":
    main()
