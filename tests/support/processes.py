"""Real servers started by tests (exporters, Prometheus' helpers): started, waited for until
they answer HTTP, and always stopped."""

from __future__ import annotations

import contextlib
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for


@contextlib.contextmanager
def serving(argv: list[str], url: str, log: Path, what: str, timeout: float = 30.0) -> Iterator[str]:
    """``argv`` started with its output in ``log``; yields the first body ``url`` answers
    (waited for up to ``timeout``: a process that exits fails at once with its log's tail);
    stopped afterwards (TERM, then KILL after 10 s)."""
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:

        def answer() -> str:
            if proc.poll() is not None:
                raise AssertionError(f"{what} exited {proc.returncode} with {argv[1:]}:\n{log.read_text()[-3000:]}")
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.read().decode()

        yield wait_for(answer, timeout, f"{what} answering {url}", retry_on=(OSError,))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
