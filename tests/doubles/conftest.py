"""Fixtures the protocol doubles' tests share, found by pytest by name (no imports needed)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.tests.doubles.marathon_double_client import Marathon
from ansible_collections.orchestrator.platform.tests.doubles.mesos_scheduler_client import IMAGE, LABEL, REPO, docker
from ansible_collections.orchestrator.platform.tests.doubles.test_mesos_double import Proc, master_args
from ansible_collections.orchestrator.platform.tests.support.ports import free_port


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Mesos double processes a test starts; killed (and their logs removed) after it."""
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()
        os.unlink(p.log.name)


@pytest.fixture
def master(procs: list[Proc], tmp_path: Path) -> Proc:
    """A standalone Mesos master double (in-memory registry, no ZooKeeper)."""
    port = free_port()
    proc = Proc("master", master_args(port, tmp_path, "--registry=in_memory")).wait_http()
    procs.append(proc)
    return proc


@pytest.fixture
def task_image() -> Iterator[str]:
    """The task image (tools/build-task-image); this run's labelled containers removed after."""
    builder = REPO / "tools" / "build-task-image"
    res = subprocess.run([str(builder)], capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, f"tools/build-task-image failed:\n{res.stdout}\n{res.stderr}"
    assert docker("image", "inspect", IMAGE).returncode == 0, f"the task image {IMAGE} is missing"
    yield IMAGE
    # Only the containers this test run labelled.
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        docker("rm", "-f", *ids)


@pytest.fixture
def marathons() -> Iterator[list[Marathon]]:
    """Marathon double processes a test starts; killed (and their logs removed) after it."""
    started: list[Marathon] = []
    yield started
    for m in started:
        m.kill()
        os.unlink(m.log.name)
